"""The OpenAPI document of the API: FastAPI's, completed with what holds for every operation."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from app.api.problem_docs import problem_example, problem_schema
from app.auth.deps import security_requirement, security_schemes
from app.drafts import docs as draft_docs
from app.exports import docs as export_docs
from app.kit.errors import PROBLEM, PROBLEM_JSON
from app.kit.http_docs import HEADERS, IDEMPOTENCY_CONFLICT_HEADERS, add_links, gather_links, header_refs
from app.kit.links import SIGNED_LINK_PARAMETERS
from app.kit.types import EXAMPLES_AS_TEXT, absent_not_null
from app.live.schemas import PackageStatusEvent
from app.packages import docs as package_docs
from app.webhooks import docs as webhook_docs


def document(app: FastAPI) -> None:
    """The app's OpenAPI document, completed once: every error answer points at one
    ``Problem`` schema, and what holds for every operation is said once (``_complete``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                webhooks=app.webhooks.routes,
                servers=SERVERS,
                tags=TAGS,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problem_schema()
            _declare_security(app, schema)
            _complete(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# Where each answer's ids lead, as the domains declare it.
LINKS = gather_links(package_docs.LINKS, draft_docs.LINKS, export_docs.LINKS, webhook_docs.LINKS)
LINK_OPERATIONS = frozenset({"stream_package_events", "download_customer_list"})
# What any authenticated operation may answer besides its own: the partner header missing or
# malformed (400), identity (401, 403), the partner's rate (429), Redis unreachable (503).
AUTHENTICATED_ANSWERS = {
    "400": "Bad Request",
    "401": "Unauthorized",
    "403": "Forbidden",
    "429": "Too Many Requests",
    "503": "Service Unavailable",
}
# What a request with a body may also get: too large (413), too slow in coming (408).
BODY_ANSWERS = {"408": "Request Timeout", "413": "Content Too Large"}
# The document is served by the API it describes: in production behind the TLS proxy, in local
# runs (`make run`) on loopback. ``x-internal``: it is for the SPA, partners and services alike.
SERVERS = [
    {
        "url": "/",
        "description": "this API, wherever it is served (production, staging, or local under make run)",
        "x-internal": False,
    }
]
# What a client can never be promised away: a fault of ours. The service is built never to
# answer 500 to any input (tests fuzz for it); declared so a client knows its shape if it does.
SERVER_ERROR = {"500": "Internal Server Error"}
TAGS = [
    {"name": "packages", "description": "The package list, create, merge, results, status, CSV."},
    {"name": "drafts", "description": "The create wizard's state, kept server-side."},
    {"name": "exports", "description": "Clusters sent to a CRM through the data-integrations layer."},
    {"name": "catalog", "description": "Event search and natural-language customer filters."},
    {"name": "webhooks", "description": "Endpoints that receive signed events, and their deliveries."},
    {"name": "activity", "description": "Every event emitted for the partner: feed, consumers, stream."},
    {"name": "operations", "description": "Liveness and readiness probes (no identity needed)."},
    {"name": "webhook events", "description": "What a registered endpoint receives (calls we make)."},
]


def _declare_security(app: FastAPI, schema: dict[str, Any]) -> None:
    """The security schemes of operations whose caller is authenticated by a dependency that
    reads the headers itself (``app.auth.deps.authenticates``), as FastAPI declares those of a
    ``Security`` dependency."""
    for route in iter_route_contexts(app.routes):
        api_route = route.original_route
        if not isinstance(api_route, APIRoute) or not api_route.include_in_schema:
            continue
        requirement = security_requirement(api_route.endpoint)
        if requirement is None:
            continue
        schema["components"].setdefault("securitySchemes", {}).update(security_schemes())
        for method in api_route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            operation.setdefault("security", []).append(requirement)


def _complete(schema: dict[str, Any]) -> None:
    """What holds for every operation, said once: FastAPI lists each security dependency as
    an alternative, but token and partner are needed together (the signed-link operations
    also work with neither, ``{}``); every answer carries ``X-Request-ID``; every
    authenticated one the partner's rate-limit headers, and may be any of
    ``AUTHENTICATED_ANSWERS``; links say where an answer's ids lead."""
    schema["components"]["headers"] = HEADERS
    event = PackageStatusEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in event.pop("$defs", {}).items():  # the enums it shares with the rest
        schema["components"]["schemas"].setdefault(name, definition)
    schema["components"]["schemas"]["PackageStatusEvent"] = event
    for route, path in schema.get("paths", {}).items():
        for operation in path.values():
            _complete_operation(operation)
            _problem_examples(route, operation)
    for event_operations in schema.get("webhooks", {}).values():
        for operation in event_operations.values():
            # A call we make: the receiver checks its signature headers (declared), not a
            # scheme of this API.
            operation.setdefault("security", [])
    _drop_framework_validation(schema)
    _restore_examples(schema)
    _integer_formats(schema)
    add_links(schema, LINKS)


INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def _integer_formats(node: Any) -> None:
    """An integer with both bounds written gets the ``format`` those bounds fit (``int32`` or
    ``int64``), so a generated client picks a wide enough type; the bounds are what is enforced."""
    if isinstance(node, dict):
        low, high = node.get("minimum"), node.get("maximum")
        if node.get("type") == "integer" and low is not None and high is not None and "format" not in node:
            for name, (floor, ceiling) in (("int32", INT32), ("int64", INT64)):
                if floor <= low and high <= ceiling:
                    node["format"] = name
                    break
        for child in node.values():
            _integer_formats(child)
    elif isinstance(node, list):
        for child in node:
            _integer_formats(child)


def _restore_examples(node: Any) -> None:
    """Model examples back from their JSON text (see ``app.kit.types.examples``), nulls kept."""
    if isinstance(node, dict):
        if EXAMPLES_AS_TEXT in node:
            node["examples"] = json.loads(node.pop(EXAMPLES_AS_TEXT))
        for child in node.values():
            _restore_examples(child)
    elif isinstance(node, list):
        for child in node:
            _restore_examples(child)


def _drop_framework_validation(schema: dict[str, Any]) -> None:
    """FastAPI gives every operation with a body a 422 of its own ``HTTPValidationError``.
    The API's 422s are ``Problem``s (set above); a webhook is answered by the partner's
    receiver, whose 422 is not ours to describe. So the framework's schemas go."""
    for event in schema.get("webhooks", {}).values():
        for operation in event.values():
            operation.get("responses", {}).pop("422", None)
    schemas = schema["components"]["schemas"]
    if "HTTPValidationError" not in json.dumps({k: v for k, v in schema.items() if k != "components"}):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def _declare(responses: dict[str, Any], answers: dict[str, str]) -> None:
    for status, description in answers.items():
        responses.setdefault(status, {"description": description, **PROBLEM})


EXAMPLE_PATH_PARAMETERS = {
    "package_id": "pkg_555",
    "tc": "family_outings_munich",
    "draft_id": "5f6cc79bfa984c518586ea3f7f931116",
    "export_id": "96b379df724444a8ae8c8f2e91ef913f",
    "endpoint_id": "ep_c17fcd6886ee454ba829b96cf7be76bf",
    "delivery_id": "dlv_0f8e4c2a9b7d4e1f8a6c3b5d7e9f1a2b",
}


def _problem_examples(route: str, operation: dict[str, Any]) -> None:
    """Each error answer shows a problem of its own status. The media objects may be shared
    (``PROBLEM``): each answer gets a copy of its own, never a change to the shared one."""
    instance = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: EXAMPLE_PATH_PARAMETERS.get(m[1], m[1]), route)
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        if PROBLEM_JSON in content and status.isdigit():
            example = problem_example(int(status), instance)
            response["content"] = {**content, PROBLEM_JSON: {**content[PROBLEM_JSON], "example": example}}


def _complete_operation(operation: dict[str, Any]) -> None:
    requirements = operation.get("security")
    responses = operation["responses"]
    parameters = operation.get("parameters", [])
    operation.setdefault("security", [])  # the probes: open to anyone, on purpose
    _declare(responses, SERVER_ERROR)
    if requirements:
        combined = {name: scopes for requirement in requirements for name, scopes in requirement.items()}
        linked = operation.get("operationId") in LINK_OPERATIONS
        operation["security"] = [combined, {}] if linked else [combined]
        _declare(responses, AUTHENTICATED_ANSWERS)
        responses["429"]["headers"] = header_refs("Retry-After")
        responses["401"]["headers"] = header_refs("WWW-Authenticate")
    if parameters or "requestBody" in operation:
        _declare(responses, {"422": "Unprocessable Content"})
    if "requestBody" in operation:
        _declare(responses, BODY_ANSWERS)
    for parameter in parameters:
        absent_not_null(parameter["schema"])  # a parameter is sent or not; never null
        if operation.get("operationId") in LINK_OPERATIONS and parameter["in"] == "query":
            parameter["schema"].update(SIGNED_LINK_PARAMETERS.get(parameter["name"], {}))
    idempotent = any(p.get("name") == "Idempotency-Key" for p in parameters)
    if idempotent and "409" in responses:
        responses["409"].setdefault("headers", {}).update(IDEMPOTENCY_CONFLICT_HEADERS)
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.update(header_refs("X-Request-ID"))
        if idempotent and status.startswith("2"):
            headers.update(header_refs("Idempotent-Replayed"))
        if requirements:
            headers.update(header_refs("RateLimit-Policy", "RateLimit"))
        if status == "503":
            headers.update(header_refs("Retry-After"))

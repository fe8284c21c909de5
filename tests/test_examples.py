"""Every documented answer body and every webhook payload carries an example, and every
example in the OpenAPI document is valid against the schema it illustrates (formats included),
so what a reader copies from the document is what the API accepts and sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from app.api.openapi_export import openapi_document

DOCUMENT = openapi_document()
COMPONENTS = DOCUMENT["components"]


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return COMPONENTS["schemas"][ref.rsplit("/", 1)[1]] if ref.startswith("#/components/schemas/") else schema


def _validator(schema: dict[str, Any]) -> Any:
    """``schema`` with the document's components beside it, so its ``$ref``s resolve."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": COMPONENTS}, validate_formats=True)


def _bodies() -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, media type object) of every answer body and every webhook payload."""
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    yield f"{method.upper()} {path} {status} {media_type}", media
    for event, operations in DOCUMENT["webhooks"].items():
        for media_type, media in operations["post"]["requestBody"]["content"].items():
            yield f"webhook {event} {media_type}", media


def _examples_of(media: dict[str, Any]) -> list[Any]:
    schema = media.get("schema") or {}
    found = list(media.get("examples", {}).values()) if isinstance(media.get("examples"), dict) else []
    found += [media["example"]] if "example" in media else []
    return found + list(_resolved(schema).get("examples", []))


def _schemas_with_examples(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object of the document that carries ``examples`` (a list: JSON Schema's)."""
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list):
            yield where, node
        for key, child in node.items():
            yield from _schemas_with_examples(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _schemas_with_examples(child, f"{where}/{index}")


@pytest.mark.parametrize(
    ("where", "media"), list(_bodies()), ids=lambda value: value if isinstance(value, str) else ""
)
def test_every_answer_body_and_webhook_payload_has_a_valid_example(where: str, media: dict[str, Any]):
    schema = media.get("schema")
    assert schema is not None, f"{where}: a body without a schema"
    found = _examples_of(media)
    assert found, f"{where}: no example"
    validator = _validator(schema)
    for example in found:
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, f"{where}: {errors}"


def test_every_example_in_the_document_fits_its_own_schema():
    """Field and parameter examples too (a request body's example is what schemathesis sends)."""
    checked = 0
    for where, schema in _schemas_with_examples({"paths": DOCUMENT["paths"], "components": COMPONENTS}):
        validator = _validator({k: v for k, v in schema.items() if k != "examples"})
        for example in schema["examples"]:
            errors = [error.message for error in validator.iter_errors(example)]
            assert not errors, f"{where}: {example!r}: {errors}"
            checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    ("path", "component"),
    [("/v1/packages/{package_id}/events", "PackageStatusEvent"), ("/v1/activity/stream", "ActivityItem")],
)
def test_each_event_streams_example_carries_its_component(path: str, component: str):
    """A stream's ``schema`` describes each event (OpenAPI 3.1 has no ``itemSchema``); the
    example event's ``data`` is a valid ``component``."""
    media = DOCUMENT["paths"][path]["get"]["responses"]["200"]["content"]["text/event-stream"]
    data = media["schema"]["properties"]["data"]
    assert data["contentSchema"] == {"$ref": f"#/components/schemas/{component}"}
    errors = _validator(data["contentSchema"]).iter_errors(json.loads(media["example"]["data"]))
    assert not list(errors)

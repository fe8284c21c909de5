"""What the OpenAPI document says beyond each route: response headers and links.

Routers name the headers an operation sends (``documented("Location", "Retry-After")``);
``X-Request-ID`` on every answer and the rate-limit headers on every authenticated one are
added to the whole document in ``app/api/docs.py``, and so are the links each domain declares
in its ``docs.py`` (built with the helpers below): where the ids of an answer lead (a
generated client's hints, and how a stateful test reaches real resources instead of
guessing ids).
"""

from __future__ import annotations

from typing import Any

# ``required``: sent on every answer that declares the header (tests/test_response_headers.py
# checks both ways against the live API).
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id (yours if it was sane, else ours): quote it when asking for help.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where the created or started resource is.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before asking again (or retrying).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "ETag": {
        "description": "The representation's entity tag: send it back as If-None-Match or If-Match.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "What a cache may do with this answer: private or live data is never reused as is.",
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "`attachment` with the file's name (`filename` and RFC 5987 `filename*`).",
        "schema": {"type": "string"},
    },
    "X-Accel-Buffering": {
        "description": "`no`: tells a buffering reverse proxy (nginx) to pass each event on at once.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with (`Bearer`).",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer of an earlier request with this key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "RateLimit-Policy": {
        "description": 'The partner\'s quota (IETF RateLimit fields draft): `"partner";q=100;w=2`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it and when it is full again, e.g. `"partner";r=42;t=1`.',
        "schema": {"type": "string"},
    },
}


def header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


# A 409 of an operation run once per key (an Idempotency-Key, a draft's submission): the first
# request is still running (retry after a moment), or its answer was too large to keep for
# replay (then where its resource is, when it made one).
IDEMPOTENCY_CONFLICT_HEADERS: dict[str, Any] = {
    **header_refs("Retry-After"),
    "Location": {
        "description": "Where the first request's resource is, when its answer was too large to replay.",
        "schema": {"type": "string"},
    },
}


def documented(*names: str, description: str | None = None) -> dict[str, Any]:
    """A ``responses=`` entry declaring the headers an answer carries."""
    entry: dict[str, Any] = {"headers": header_refs(*names)}
    if description:
        entry["description"] = description
    return entry


BODY_ID = "$response.body#/id"
ETAG = "$response.header.ETag"
# operationId → status → links of its answer
Links = dict[str, dict[str, dict[str, Any]]]


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    """One OpenAPI link: the operation an answer leads to, and where its parameters come from."""
    return {"operationId": operation_id, "description": description, "parameters": parameters}


def follow_ups(targets: dict[str, str], **parameters: str) -> dict[str, Any]:
    """Links to each of ``targets`` (operationId → description), all with the same parameters."""
    return {target: link(target, description, **parameters) for target, description in targets.items()}


def gather_links(*tables: Links) -> Links:
    """The domains' link tables as one; an operation is described by one table only."""
    gathered: Links = {}
    for table in tables:
        twice = gathered.keys() & table.keys()
        if twice:
            raise ValueError(f"the links of {sorted(twice)} are declared twice")
        gathered.update(table)
    return gathered


def add_links(schema: dict[str, Any], links: Links) -> None:
    """OpenAPI ``links`` on the answers named in ``links``."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, answer_links in links.get(operation.get("operationId", ""), {}).items():
                operation["responses"][status]["links"] = answer_links

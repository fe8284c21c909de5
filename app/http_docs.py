"""Response headers as the OpenAPI document declares them, so a generated client knows them.

Routers name the ones an operation sends (``documented("Location", "Retry-After")``);
``X-Request-ID`` on every answer and the rate-limit headers on every authenticated one are
added to the whole document in ``app/main.py``.
"""

from __future__ import annotations

from typing import Any

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id (yours if it was sane, else ours): quote it when asking for help.",
        "schema": {"type": "string"},
    },
    "Location": {"description": "Where the created or started resource is.", "schema": {"type": "string"}},
    "Retry-After": {
        "description": "Seconds to wait before asking again (or retrying).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "ETag": {
        "description": "The representation's entity tag: send it back as If-None-Match or If-Match.",
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
    "Age": {"description": "Seconds since the worker observed this status.", "schema": {"type": "integer"}},
}


def header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def documented(*names: str, description: str | None = None) -> dict[str, Any]:
    """A ``responses=`` entry declaring the headers an answer carries."""
    entry: dict[str, Any] = {"headers": header_refs(*names)}
    if description:
        entry["description"] = description
    return entry

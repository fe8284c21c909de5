"""The ``Problem`` schema of the OpenAPI document, and an example problem for each status."""

from __future__ import annotations

from typing import Any

from app.kit.errors import MAX_ERRORS, TYPE_BASE, status_slug, status_title

# What a problem of each status typically says (the document's example of each error answer).
_EXAMPLE_DETAILS = {
    400: "X-Preferred-Partner-Id is missing",
    401: "the bearer token is missing, malformed or expired",
    403: "the token does not grant partner 'partner-2'",
    404: "no such resource for this partner (another partner's is a 404 too)",
    408: "the request body came too slowly",
    409: "a request with this Idempotency-Key is still being answered",
    412: "the draft changed since you read it; read it again and reapply",
    413: "the request body is larger than 1048576 bytes",
    422: "request validation failed: event_ids: List should have at least 1 item after validation, not 0",
    428: "If-Match is required: send the ETag of your last read",
    429: "over the partner's rate: retry after the Retry-After seconds",
    502: "the upstream answered with a body that is not JSON",
    503: "a backing store (Redis) is unavailable; try again shortly",
    504: "the upstream did not answer in time",
}


def problem_example(status: int, instance: str) -> dict[str, Any]:
    """An example problem of one status, for the OpenAPI document."""
    return {
        "type": TYPE_BASE + status_slug(status),
        "title": status_title(status),
        "status": status,
        "detail": _EXAMPLE_DETAILS.get(status, status_title(status)),
        "instance": instance,
        "request_id": "3f2a9c1e7b5d4a60",
    }


def problem_schema() -> dict[str, Any]:
    """JSON Schema of the RFC 9457 body every error has."""
    return {
        "title": "Problem",
        "examples": [
            {
                "type": f"{TYPE_BASE}not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "package 'pkg_999' was not found",
                "instance": "/v1/packages/pkg_999",
                "request_id": "3f2a9c1e7b5d4a60",
            },
            {
                "type": f"{TYPE_BASE}validation",
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "request validation failed: event_ids.0: Input should be a valid integer",
                "instance": "/v1/packages",
                "request_id": "7c1d0e5b9a2f4c88",
                "errors": [
                    {
                        "loc": ["body", "event_ids", 0],
                        "field": "event_ids.0",
                        "message": "Input should be a valid integer",
                        "type": "int_type",
                    }
                ],
            },
        ],
        "type": "object",
        "required": ["type", "title", "status", "detail", "instance", "request_id"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string"},
            "errors_omitted": {
                "type": "integer",
                "description": f"field errors not listed (at most {MAX_ERRORS} are)",
            },
            "errors": {
                "type": "array",
                "maxItems": MAX_ERRORS,
                "description": "field errors (422 only)",
                "items": {
                    "type": "object",
                    "properties": {
                        "loc": {
                            "type": "array",
                            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            "description": "where: body, query, path or header, then member names "
                            "and item positions as the client sent them",
                        },
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            },
        },
    }

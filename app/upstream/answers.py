"""What an upstream answer means: success, or which of our errors it is.

Upstream 4xx keep their status (an upstream 422 keeps its field list, in our shape);
5xx and anything else that is not 2xx are 502.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.kit.errors import field_error
from app.upstream.errors import UpstreamRejected, UpstreamUnavailable

MAX_FIELD_ERRORS = 50


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete upstream answer (its body read whole, within the size cap)."""

    status: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


def raise_for_status(answer: Answer) -> None:
    """Nothing for a 2xx; else the error the caller gets."""
    status = answer.status
    if 200 <= status < 300:
        return
    if 400 <= status < 500:
        headers = {}
        if status == 429 and "retry-after" in answer.headers:
            headers["Retry-After"] = answer.headers["retry-after"]
        errors = _field_errors_of(answer) if status == 422 else None
        detail = _detail_of(answer)
        if errors:
            summary = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
            detail = f"the upstream refused the request: {summary}"
        raise UpstreamRejected(status, detail, headers, errors)
    raise UpstreamUnavailable(f"the upstream answered {status}")


def _detail_of(answer: Answer) -> str:
    """The upstream's own message when it gave one, for the problem detail."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f"upstream: {value}"
    return f"the upstream answered {answer.status} {answer.reason}".strip()


def _field_errors_of(answer: Answer) -> list[dict[str, Any]] | None:
    """The field list of an upstream 422, in our shape (``loc`` starts with ``upstream``):
    FastAPI's ``{"detail": [{loc, msg, type}]}``, ``{"errors": [{field|loc|path, message|msg}]}``
    or ``{"errors": {field: [messages]}}``. None when the answer has no such list."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    items: list[tuple[list[Any], str, str]] = []
    listed = body.get("detail") if isinstance(body.get("detail"), list) else body.get("errors")
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict):
                where = entry.get("loc", entry.get("field", entry.get("path", [])))
                loc = list(where) if isinstance(where, list) else str(where).split(".") if where else []
                message = entry.get("msg", entry.get("message", ""))
                items.append((loc, str(message), str(entry.get("type", "upstream_validation"))))
    elif isinstance(listed, dict):
        for field, messages in listed.items():
            for message in messages if isinstance(messages, list) else [messages]:
                items.append((str(field).split("."), str(message), "upstream_validation"))
    if not items:
        return None
    return [
        field_error(["upstream", *(str(part)[:100] for part in loc[:10])], message[:500], kind[:100])
        for loc, message, kind in items[:MAX_FIELD_ERRORS]
    ]

"""RFC 9457 problem+json: one exception family, and the body every error answer has.

Every error the BFF answers has one shape: ``{type, title, status, detail, instance,
request_id}`` (+ ``errors`` on 422). The API's handlers (``app/api/errors.py``) render
exceptions, ours and the framework's, with ``problem_body``; the document's ``Problem``
schema is ``app/api/problem_docs.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://errors.package-builder-bff.dev/"


class ProblemError(Exception):
    """An error that renders as problem+json; subclasses fix status and type."""

    status: int = 500
    type_slug: str = "internal"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.errors = list(errors) if errors is not None else None
        self.extra = extra or {}


class BadRequest(ProblemError):
    status, type_slug, title = 400, "bad-request", "Bad Request"


class Unauthorized(ProblemError):
    status, type_slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="bff"'})


class Forbidden(ProblemError):
    status, type_slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, type_slug, title = 404, "not-found", "Not Found"

    def __init__(self, resource: str, identifier: str) -> None:
        super().__init__(f"{resource} {identifier!r} was not found")


class Conflict(ProblemError):
    status, type_slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(ProblemError):
    status, type_slug, title = 412, "precondition-failed", "Precondition Failed"


class PayloadTooLarge(ProblemError):
    status, type_slug, title = 413, "payload-too-large", "Content Too Large"


class ValidationProblem(ProblemError):
    status, type_slug, title = 422, "validation", "Unprocessable Content"


class PreconditionRequired(ProblemError):
    status, type_slug, title = 428, "precondition-required", "Precondition Required"


class TooManyRequests(ProblemError):
    status, type_slug, title = 429, "too-many-requests", "Too Many Requests"


PRECONDITION_REQUIRED = (
    'this change needs If-Match with the ETag of your last read (e.g. If-Match: "v3"), '
    "so that two tabs cannot overwrite each other"
)


class ServiceUnavailable(ProblemError):
    status, type_slug, title = 503, "service-unavailable", "Service Unavailable"


MAX_ERRORS = 50
"""Field errors one answer lists; the count of the rest is ``errors_omitted``. A body built
to fail many ways gets a small answer, not one as large as its input."""


def problem_body(
    request: Request,
    *,
    status: int,
    type_slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + type_slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id_of(request),
    }
    if errors is not None:
        body["errors"] = errors[:MAX_ERRORS]
        if len(errors) > MAX_ERRORS:
            body["errors_omitted"] = len(errors) - MAX_ERRORS
    if extra:
        body.update(extra)
    return body


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "") or "")


def problem_response(request: Request, exc: ProblemError, *, title: str | None = None) -> JSONResponse:
    body = problem_body(
        request,
        status=exc.status,
        type_slug=exc.type_slug,
        title=title or exc.title,
        detail=exc.detail,
        errors=exc.errors,
        extra=exc.extra,
    )
    return JSONResponse(body, status_code=exc.status, headers=exc.headers, media_type=PROBLEM_JSON)


def status_slug(status: int) -> str:
    """The problem ``type`` of a status we did not raise ourselves (``method-not-allowed``)."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-")
    except ValueError:
        return "http-error"


def status_title(status: int) -> str:
    """The problem ``title`` of such a status (``Method Not Allowed``)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP Error"


_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def field_error(loc: Sequence[str | int], message: str, type_: str = "value_error") -> dict[str, Any]:
    """One entry of a 422 body's ``errors``: ``loc`` as FastAPI gives it (``["body",
    "event_ids", 2]``: member names are strings, item positions integers), ``field`` the same
    without the request part, dotted (``"event_ids.2"``)."""
    parts = [part if isinstance(part, int) and not isinstance(part, bool) else str(part) for part in loc]
    path = parts[1:] if parts and parts[0] in _LOCATIONS else parts
    dotted = ".".join(str(part) for part in path) or ".".join(str(part) for part in parts)
    return {"loc": parts, "field": dotted, "message": message, "type": type_}


class StreamAborted(Exception):
    """Raised inside a streaming body to abort the client's transfer on purpose: once the
    status line is sent, aborting is the only honest way to say the body is incomplete."""


ABORTED_STREAMS = (StreamAborted,)


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
# OpenAPI ``responses=`` entry of a problem+json answer (the schema: app/api/problem_docs.py).
PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}}
# What an endpoint that calls the upstream may answer: upstream 4xx keep their status,
# 5xx and connection errors are 502, timeouts 504, Redis or pool exhaustion 503.
# What an authenticated endpoint that only uses Redis may answer (503: Redis unreachable).
CLIENT_ERRORS: dict[int | str, dict[str, Any]] = {
    code: PROBLEM for code in (400, 401, 403, 404, 422, 429, 503)
}
UPSTREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    code: PROBLEM for code in (400, 401, 403, 404, 409, 422, 429, 502, 503, 504)
}

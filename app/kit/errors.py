"""RFC 9457 problem+json: one exception family, one set of handlers.

Every error the BFF answers goes through here, so that clients see one shape:
``{type, title, status, detail, instance, request_id}`` (+ ``errors`` on 422).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("app.errors")

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


def _slug_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-")
    except ValueError:
        return "http-error"


def _title_for(status: int) -> str:
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


def _sent_path(loc: Sequence[Any], body: Any, kind: str) -> list[Any]:
    """``loc`` as the path the client sent: a body error's location is walked through the
    body itself, keeping the members and items it steps into, and a missing member at its
    end; other parts are pydantic's labels of a union's members (``function-after[...]``)
    and are left out. Locations outside the body are kept as they are."""
    if not loc or loc[0] != "body":
        return list(loc)
    path: list[Any] = ["body"]
    node = body
    for index, part in enumerate(loc[1:], start=2):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif index == len(loc) and kind == "missing" and isinstance(node, dict):
            pass  # the member the body lacks
        else:
            continue
        path.append(part)
    return path


def _field_errors(errors: Sequence[Any], body: Any = None) -> list[dict[str, Any]]:
    return [
        field_error(
            _sent_path(error.get("loc", ()), body, error.get("type", "")),
            error.get("msg", ""),
            error.get("type", ""),
        )
        for error in errors
    ]


class StreamAborted(Exception):
    """Raised inside a streaming body to abort the client's transfer on purpose: once the
    status line is sent, aborting is the only honest way to say the body is incomplete."""


ABORTED_STREAMS = (StreamAborted,)


class _AbortedStreamFilter(logging.Filter):
    """uvicorn logs every exception that ends a response with a traceback; a stream we
    abort on purpose (the upstream broke off) is expected and already logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ABORTED_STREAMS)


_ABORTED_STREAM_FILTER = _AbortedStreamFilter()


def allowed_methods(request: Request) -> list[str]:
    """Every method a route takes at this path (Starlette's 405 names only the first
    route's, though ``GET`` and ``POST /v1/packages`` are two routes). As in OpenAPI, a
    concrete path wins over a templated one: ``/v1/packages/merge`` is the merge path, not
    ``/v1/packages/{package_id}``."""
    by_specificity: dict[int, set[str]] = {}
    pending = list(request.app.router.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)  # FastAPI keeps included routers whole
        if included is not None:
            pending += included.routes
            continue
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(request.scope["path"]):
            templated = str(getattr(route, "path", "")).count("{")
            by_specificity.setdefault(templated, set()).update(getattr(route, "methods", None) or ())
    methods = by_specificity[min(by_specificity)] if by_specificity else set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _json_hint(content_type: str | None) -> str:
    """A body sent without a JSON media type is read as bytes, not parsed: say so (curl's
    ``-d`` alone sends ``application/x-www-form-urlencoded``)."""
    sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return f"the body was sent with {sent}: send JSON with 'Content-Type: application/json'"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, ours or the framework's, through problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(request, exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else _title_for(status)
        headers = dict(exc.headers or {})
        if status == 404 and detail == "Not Found":
            detail = f"no route matches {request.method} {request.url.path}"
        if status == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
            detail = f"{request.method} is not allowed here; use {headers['Allow']}"
        body = problem_body(
            request, status=status, type_slug=_slug_for(status), title=_title_for(status), detail=detail
        )
        return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        every = exc.errors()
        fields = _field_errors(every[:MAX_ERRORS], exc.body)
        for field in fields:
            if field["loc"] == ["body"] and not _is_json(request.headers.get("content-type")):
                field["message"] += f"; {_json_hint(request.headers.get('content-type'))}"
        if fields and all(f["loc"] == ["header", "if-match"] and f["type"] == "missing" for f in fields):
            return problem_response(request, PreconditionRequired(PRECONDITION_REQUIRED))
        summary = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields[:5])
        body = problem_body(
            request,
            status=422,
            type_slug="validation",
            title="Unprocessable Content",
            detail=f"request validation failed: {summary}",
            errors=fields,
            extra={"errors_omitted": len(every) - MAX_ERRORS} if len(every) > MAX_ERRORS else None,
        )
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, ABORTED_STREAMS):  # those were logged where they happened
            logger.exception("unhandled error (request_id=%s)", request_id_of(request))
        body = problem_body(
            request,
            status=500,
            type_slug="internal",
            title="Internal Server Error",
            detail="an unexpected error occurred; quote the request_id",
        )
        return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
    logging.getLogger("uvicorn.error").addFilter(_ABORTED_STREAM_FILTER)  # idempotent


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
# OpenAPI ``responses=`` entry of a problem+json answer (the schema is added in main.py).
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
        "type": TYPE_BASE + _slug_for(status),
        "title": _title_for(status),
        "status": status,
        "detail": _EXAMPLE_DETAILS.get(status, _title_for(status)),
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

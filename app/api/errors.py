"""The API's exception handlers: every error, ours or the framework's, answered as problem+json.

The exceptions and the body are ``app/kit/errors.py``; here they meet FastAPI and Starlette:
validation errors as field errors, a 405 with every method of the path, a 500 for the rest,
and uvicorn told that a stream aborted on purpose is no crash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.kit.errors import (
    ABORTED_STREAMS,
    MAX_ERRORS,
    PRECONDITION_REQUIRED,
    PROBLEM_JSON,
    PreconditionRequired,
    ProblemError,
    field_error,
    problem_body,
    problem_response,
    request_id_of,
    status_slug,
    status_title,
)

logger = logging.getLogger("app.errors")


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
        detail = exc.detail if isinstance(exc.detail, str) else status_title(status)
        headers = dict(exc.headers or {})
        if status == 404 and detail == "Not Found":
            detail = f"no route matches {request.method} {request.url.path}"
        if status == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
            detail = f"{request.method} is not allowed here; use {headers['Allow']}"
        body = problem_body(
            request, status=status, type_slug=status_slug(status), title=status_title(status), detail=detail
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

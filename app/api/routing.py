"""``FlatRoute``: FastAPI routes answered without FastAPI's dependency solver when nothing
needs it.

The identity, service and settings dependencies of this service are ``async def``s that
take the request and nothing else (``app.api.deps``), and the hot routes (``/status``, the
results view, the list) return a ready ``Response``. For such a route the solver's work
(cache keys, scope checks, a sub-response, nested solving) cost 50–96 µs a request
(``bench/flat_route.py``); the flat handler awaits each dependency with the request,
validates the path, query and header parameters with FastAPI's own function (so a bad one
gets the very same 422) and calls the endpoint. The route's declaration, and so the OpenAPI
document, is unchanged. Any route this does not describe exactly keeps FastAPI's handler.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# Set by FastAPI while it builds the handler of a route included in a router: that copy's
# dependant also holds the including routers' dependencies. Without it (another FastAPI
# version) the router-level dependencies cannot be seen, so no route is answered flat.
_EFFECTIVE_ROUTE = getattr(fastapi_routing, "_effective_route_context_var", None)


class FlatRoute(APIRoute):
    """An ``APIRoute`` that answers flat when its dependant allows it (see the module)."""

    def get_route_handler(self) -> Handler:
        solver_handler = super().get_route_handler()
        if _EFFECTIVE_ROUTE is None:
            return solver_handler
        context = _EFFECTIVE_ROUTE.get()
        route: Any = context if context is not None and context.original_route is self else self
        if not is_flat(route.dependant):
            return solver_handler
        return _flat_handler(route.dependant, solver_handler, route.dependency_overrides_provider)


def _takes_only_the_request(dependant: Dependant) -> bool:
    return (
        dependant.request_param_name is not None
        and inspect.iscoroutinefunction(dependant.call)
        and not _needs_the_solver(dependant)
        and not (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.dependencies
        )
    )


def _needs_the_solver(dependant: Dependant) -> bool:
    """Anything but path, query and header parameters and the request: FastAPI's business."""
    return bool(
        dependant.body_params
        or dependant.cookie_params
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.own_oauth_scopes
    )


def _returns_a_response(call: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(call).get("return")
    except Exception:  # a hint that cannot be resolved here: leave the route to FastAPI
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def is_flat(dependant: Dependant) -> bool:
    """An ``async def`` endpoint returning a ``Response``, whose dependencies each take only
    the request and who takes nothing else but path, query and header parameters."""
    call = dependant.call
    return (
        call is not None
        and inspect.iscoroutinefunction(call)
        and _returns_a_response(call)
        and not _needs_the_solver(dependant)
        and all(_takes_only_the_request(sub) for sub in dependant.dependencies)
    )


def _flat_handler(dependant: Dependant, solver_handler: Handler, overrides_provider: Any) -> Handler:
    endpoint = dependant.call
    assert endpoint is not None
    # One call per distinct dependency (FastAPI's per-request cache); unnamed ones (a
    # router's ``dependencies=[...]``) run for their effect, in declaration order.
    calls: list[tuple[Callable[..., Coroutine[Any, Any, Any]], str]] = []  # (dependency, its request's name)
    first_call: dict[Callable[..., Any], int] = {}
    names: list[tuple[str, int]] = []
    for sub in dependant.dependencies:
        assert sub.call is not None and sub.request_param_name is not None
        if sub.use_cache and sub.call in first_call:
            index = first_call[sub.call]
        else:
            index = len(calls)
            calls.append((sub.call, sub.request_param_name))
            first_call.setdefault(sub.call, index)
        if sub.name is not None:
            names.append((sub.name, index))
    # Only the parts of the request the route declares parameters in are read (Starlette
    # parses the query string and the headers on first access).
    sources = [
        (fields, part)
        for fields, part in (
            (dependant.path_params, "path_params"),
            (dependant.query_params, "query_params"),
            (dependant.header_params, "headers"),
        )
        if fields
    ]
    request_name = dependant.request_param_name

    async def handler(request: Request) -> Response:
        if overrides_provider is not None and getattr(overrides_provider, "dependency_overrides", None):
            return await solver_handler(request)  # tests' overrides: FastAPI resolves them
        results = [await call(**{request_param: request}) for call, request_param in calls]
        values: dict[str, Any] = {name: results[index] for name, index in names}
        errors: list[Any] = []
        for fields, part in sources:
            found, wrong = request_params_to_args(fields, getattr(request, part))
            values.update(found)
            errors.extend(wrong)
        if errors:
            raise RequestValidationError(errors)
        if request_name is not None:
            values[request_name] = request
        response: Response = await endpoint(**values)
        return response

    return handler

"""``FlatRoute`` answers exactly as FastAPI's solver would, without the solver.

Twin apps hold the same routes, one built with ``FlatRoute`` and one with ``APIRoute``; every
request below must get the same status, body and headers from both. In-process: this is
about the framework's behaviour, which a real server does not change. The real routes
(``/status``, the results view, the list) go through ``FlatRoute`` in every API test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.dependencies import utils as dependency_utils
from fastapi.routing import APIRoute

from app.api import routing
from app.api.app import ROUTERS
from app.api.routing import FlatRoute, is_flat
from app.kit.errors import Unauthorized, install_error_handlers
from app.kit.params import PackageId

CALLS = "calls"


async def who(request: Request) -> str:
    """Like ``app.api.deps``: reads the request, may refuse it, counts its calls."""
    request.state.calls = getattr(request.state, CALLS, 0) + 1
    if request.headers.get("authorization") != "Bearer ok":
        raise Unauthorized("no token")
    return "caller"


async def flavour(*, req: Request) -> str:
    """The request under another name, keyword-only."""
    return req.headers.get("x-flavour", "plain")


async def audited(request: Request) -> None:
    """A router-level dependency: it runs for every route of its router."""
    if request.headers.get("x-blocked"):
        raise Unauthorized("blocked by the router")


Who = Annotated[str, Depends(who)]


def make_app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(prefix="/v1/things", route_class=route_class, dependencies=[Depends(audited)])

    @router.get("/{thing_id}")
    async def get_thing(
        thing_id: PackageId,
        caller: Who,
        again: Who,  # the same dependency twice: called once per request
        taste: Annotated[str, Depends(flavour)],
        request: Request,
        limit: Annotated[int, Query(ge=1, le=10)] = 5,
        tags: Annotated[list[str] | None, Query(alias="tag")] = None,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        body = f"{thing_id}|{caller}|{again}|{taste}|{limit}|{tags}|{if_none_match}|{request.state.calls}"
        return Response(body, media_type="text/plain", headers={"X-Thing": thing_id})

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


@pytest.fixture
async def twins() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    flat, solved = make_app(FlatRoute), make_app(APIRoute)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=flat), base_url="http://t") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=solved), base_url="http://t") as b,
    ):
        yield a, b


OK = {"Authorization": "Bearer ok"}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/things/pkg_1", OK),
        ("/v1/things/pkg_1?limit=3&tag=a&tag=b", {**OK, "If-None-Match": '"e1"', "X-Flavour": "salty"}),
        ("/v1/things/-bad-id", OK),  # path pattern
        ("/v1/things/pkg_1?limit=0", OK),  # query bound
        ("/v1/things/pkg_1?limit=many", OK),  # query type
        ("/v1/things/-bad?limit=0", OK),  # two errors, in FastAPI's order
        ("/v1/things/pkg_1", {}),  # the dependency refuses
        ("/v1/things/-bad-id", {}),  # a refusal comes before parameter errors
        ("/v1/things/pkg_1", {**OK, "X-Blocked": "1"}),  # the router's dependency refuses
    ],
)
async def test_flat_and_solved_routes_answer_alike(twins, path, headers) -> None:
    flat, solved = twins
    a, b = await flat.get(path, headers=headers), await solved.get(path, headers=headers)
    assert (a.status_code, a.text) == (b.status_code, b.text)
    assert {k: v for k, v in a.headers.items() if k != "content-length"} == {
        k: v for k, v in b.headers.items() if k != "content-length"
    }


async def test_a_flat_route_never_calls_the_solver(twins, monkeypatch: pytest.MonkeyPatch) -> None:
    flat, _ = twins

    async def no_solver(**_: object) -> None:
        raise AssertionError("the dependency solver ran")

    monkeypatch.setattr("fastapi.routing.solve_dependencies", no_solver)
    monkeypatch.setattr(dependency_utils, "solve_dependencies", no_solver)
    response = await flat.get("/v1/things/pkg_1?tag=x", headers=OK)
    assert response.status_code == 200
    assert response.text == "pkg_1|caller|caller|plain|5|['x']|None|1"


async def test_dependency_overrides_are_honoured() -> None:
    app = make_app(FlatRoute)

    async def anyone(request: Request) -> str:
        request.state.calls = 0
        return "override"

    app.dependency_overrides[who] = anyone
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/v1/things/pkg_1")
    assert response.text.startswith("pkg_1|override|override|")


def test_the_hot_routes_are_flat_and_the_others_keep_the_solver() -> None:
    """Guards the speed of the hot path: a change of signature that makes one of them
    need the solver (a ``Response`` parameter, a model return) shows here."""
    flat = {
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and is_flat(route.dependant)
    }
    assert {"/v1/packages", "/v1/packages/{package_id}", "/v1/packages/{package_id}/status"} <= flat
    # A body, a model to serialise or a ``Response`` to merge headers from needs FastAPI.
    assert "/v1/packages/{package_id}/evaluation" not in flat
    assert "/v1/drafts" not in flat


async def plain(request: Request) -> Response:
    return Response("plain")


def test_without_fastapis_inclusion_hook_no_route_is_flat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another FastAPI version may drop the private hook that shows a router's dependencies;
    then every route keeps the solver rather than skip them."""
    assert "_flat_handler" in FlatRoute("/plain", plain).get_route_handler().__qualname__
    monkeypatch.setattr(routing, "_EFFECTIVE_ROUTE", None)
    assert FlatRoute("/plain", plain).get_route_handler().__qualname__.startswith("get_request_handler")

"""What FastAPI's dependency solver costs a hot route, and what ``FlatRoute`` saves.

In-process, no server, no network: one route shaped like ``GET /v1/packages/{id}/status``
(a ``PackageId`` path parameter, two ``async def`` dependencies that take the request, a
ready ``Response``), included in a router as the API's are, called through the whole
FastAPI app, once as an ``APIRoute`` and once as a ``FlatRoute``, in alternating rounds.
Prints CPU per request (``time.process_time``), best and median of the rounds: in-process
figures are far steadier than a loaded server's on a shared machine.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from app.api.routing import FlatRoute
from app.kit.params import PackageId

CALLS = int(os.environ.get("BENCH_FLAT_CALLS", "3000"))
ROUNDS = int(os.environ.get("BENCH_FLAT_ROUNDS", "7"))
BODY = b'{"id":"pkg_1","status":"INPROGRESS","progress":40}'


async def call_context(request: Request) -> str:
    return "context"


async def package_service(request: Request) -> str:
    return "service"


def make_app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(prefix="/v1/packages", route_class=route_class)

    @router.get("/{package_id}/status")
    async def get_package_status(
        package_id: PackageId,
        ctx: Annotated[str, Depends(call_context)],
        service: Annotated[str, Depends(package_service)],
    ) -> Response:
        return Response(BODY, media_type="application/json")

    app = FastAPI(openapi_url=None)
    app.include_router(router)
    return app


async def _round(app: FastAPI, calls: int) -> float:
    """CPU µs per request through the whole app (its middleware, routing and route)."""
    template = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/packages/pkg_1/status",
        "raw_path": b"/v1/packages/pkg_1/status",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(calls):
        await app(dict(template), receive, send)
    spent = time.process_time() - started
    assert statuses == [200] * calls, set(statuses)
    return spent / calls * 1e6


async def run() -> dict[str, float]:
    apps = {"solver": make_app(APIRoute), "flat": make_app(FlatRoute)}
    for app in apps.values():
        await _round(app, 200)  # warm
    rounds: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(ROUNDS):
        for name, app in apps.items():
            rounds[name].append(await _round(app, CALLS))
    figures = {f"{name}_us": statistics.median(values) for name, values in rounds.items()}
    print(f"a /status-shaped route through the whole FastAPI app, in-process, {ROUNDS} rounds x {CALLS}:")
    for name, label in (("solver", "APIRoute (FastAPI's solver)"), ("flat", "FlatRoute")):
        values = rounds[name]
        print(f"    {label:<30} best {min(values):6.1f} µs   median {statistics.median(values):6.1f} µs")
    print(f"    saved per request (medians)    {figures['solver_us'] - figures['flat_us']:6.1f} µs")
    return figures


if __name__ == "__main__":
    asyncio.run(run())

"""Upstream client stacks compared: aiohttp directly (the service's client), httpx over
aiohttp's pool (the ``httpx-aiohttp`` transport) and httpx's own pool.

Each does the same call: a GET of one package answer, parsed into ``UpstreamPackage``,
100 at a time, against a canned keep-alive upstream in a process of its own (so that
the upstream is not what is measured). Prints requests/s and the client's CPU per call.
``httpx-aiohttp`` is not a dependency of the service: its row is skipped unless it is
installed (``pip install httpx-aiohttp``).

Run ``python bench/upstream_transport.py`` (``--serve PORT`` is the canned upstream).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from app.upstream import CallContext, PackageBuilderClient
from app.upstream.models import UpstreamPackage
from tests.support.processes import ManagedProcess, free_port

REQUESTS = 4000
CONCURRENCY = 100
PACKAGE = json.dumps(
    {
        "id": "pkg_555",
        "title": "Munich shows Q3",
        "status": "DONE",
        "created_at": "2026-05-15T10:30:00Z",
        "targeting_mode": "lookalike",
        "events": [{"id": f"evt_{n}", "title": "Event"} for n in range(3)],
        "content": {
            tc: {"customers": 184, "items": 412, "purchase": 18540, "preview": [{"id": "cust_1"}]}
            for tc in ("family_outings_munich", "jazz brunch", "AC/DC fans")
        },
    }
).encode()
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(PACKAGE)
) + PACKAGE

Call = Callable[[], Awaitable[object]]


class _Canned(asyncio.Protocol):
    """Answers every request head it receives with the canned package (GETs: no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self._pending = b""

    def data_received(self, data: bytes) -> None:
        self._pending += data
        heads = self._pending.count(b"\r\n\r\n")
        if heads:
            self._pending = self._pending.rsplit(b"\r\n\r\n", 1)[1]
            self._transport.write(ANSWER * heads)


def serve(port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def forever() -> None:
        server = await asyncio.get_running_loop().create_server(_Canned, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(forever())


async def measure(call: Call, n: int) -> tuple[float, float]:
    """Requests/s and client CPU µs per call, ``CONCURRENCY`` at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


def stacks(base: str) -> dict[str, tuple[Call, Callable[[], Awaitable[None]]]]:
    """Each stack's call and its close."""
    ctx = CallContext("Bearer bench", "bench-partner")
    ours = PackageBuilderClient(base, base, max_connections=CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    def via(client: httpx.AsyncClient) -> Call:
        async def call() -> UpstreamPackage:
            response = await client.get("/package_builder/packages/pkg_555", headers=ctx.headers())
            response.raise_for_status()
            return UpstreamPackage.model_validate_json(response.content)

        return call

    found: dict[str, tuple[Call, Callable[[], Awaitable[None]]]] = {
        "aiohttp directly (ours)": (lambda: ours.get_package(ctx, "pkg_555"), ours.aclose),
    }
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        print("  (httpx-aiohttp not installed: its row is skipped)")
    else:
        over = httpx.AsyncClient(base_url=base, transport=AiohttpTransport(limits=limits))
        found["httpx over aiohttp"] = (via(over), over.aclose)
    plain = httpx.AsyncClient(base_url=base, limits=limits)
    found["httpx's own pool"] = (via(plain), plain.aclose)
    return found


async def main() -> dict[str, float]:
    port = free_port()
    upstream = ManagedProcess("bench-canned", [sys.executable, __file__, "--serve", str(port)], port=port)
    upstream.start()
    try:
        clients = stacks(f"http://127.0.0.1:{port}")
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for call, _ in clients.values():
            await measure(call, 300)  # warm the pools
        for _ in range(3):  # interleaved rounds, so drift hits every stack alike
            for name, (call, _) in clients.items():
                results[name].append(await measure(call, REQUESTS))
        for _, close in clients.values():
            await close()
    finally:
        upstream.stop()
    print(f"{REQUESTS} GETs of one package at concurrency {CONCURRENCY} (best of 3):")
    print(f"  {'stack':26} {'requests/s':>10} {'CPU µs/call':>12}")
    best = {name: (max(r for r, _ in runs), min(c for _, c in runs)) for name, runs in results.items()}
    for name, (rps, cpu) in best.items():
        print(f"  {name:26} {rps:10,.0f} {cpu:12,.0f}")
    ours_rps, ours_cpu = best["aiohttp directly (ours)"]
    plain_rps = best["httpx's own pool"][0]
    figures = {
        "aiohttp_rps": ours_rps,
        "aiohttp_cpu_us": ours_cpu,
        "httpx_rps": plain_rps,
        "ratio": ours_rps / plain_rps,
    }
    if "httpx over aiohttp" in best:
        figures["httpx_aiohttp_rps"], figures["httpx_aiohttp_cpu_us"] = best["httpx over aiohttp"]
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    else:
        asyncio.run(main())

"""A bare aiohttp server doing one upstream GET per request: the CPU floor of a Python proxy.

``GET /package_builder/...`` is fetched from the upstream with the caller's
``Authorization`` and ``X-Preferred-Partner-Id`` and answered as it came. Run as
``python bench/passthrough.py PORT UPSTREAM_URL``.
"""

from __future__ import annotations

import sys

from aiohttp import ClientSession, TCPConnector, web


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["session"] = ClientSession(connector=TCPConnector(limit=200))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def proxy(request: web.Request) -> web.Response:
        headers = {
            "Authorization": request.headers.get("Authorization", ""),
            "X-Preferred-Partner-Id": request.headers.get("X-Preferred-Partner-Id", ""),
        }
        async with app["session"].get(upstream + request.path_qs, headers=headers) as response:
            body = await response.read()
            return web.Response(body=body, status=response.status, content_type="application/json")

    app.router.add_get("/{tail:.*}", proxy)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


if __name__ == "__main__":
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    web.run_app(make_app(upstream), host="127.0.0.1", port=port, print=None, access_log=None)

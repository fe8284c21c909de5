"""A webhook receiver that verifies Standard Webhooks signatures and records when each
delivery arrived: ``python bench/receiver.py PORT``.

``POST /_secrets`` ({path: secret}) tells it the secret of each hook path;
``POST /hook/{name}`` verifies and records; ``GET /_received`` lists what was verified
(``[arrived_at, package_id]``) and how many were refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time

from aiohttp import web

TOLERANCE_S = 300


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    offered = [sig.partition(",")[2].encode() for sig in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, sig) for sig in offered)


def make_app() -> web.Application:
    app = web.Application()
    secrets: dict[str, str] = {}
    received: list[tuple[float, str]] = []
    refused = [0]

    async def set_secrets(request: web.Request) -> web.Response:
        secrets.update(await request.json())
        return web.json_response({"paths": len(secrets)})

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        secret = secrets.get(request.match_info["name"])
        if secret is None or not verify(secret, dict(request.headers), body):
            refused[0] += 1
            return web.Response(status=401)
        data = json.loads(body).get("data", {})
        received.append((time.time(), str(data.get("package_id", ""))))
        return web.Response(status=204)

    async def report(request: web.Request) -> web.Response:
        return web.json_response({"received": received, "refused": refused[0]})

    async def reset(request: web.Request) -> web.Response:
        received.clear()
        refused[0] = 0
        return web.Response(status=204)

    app.router.add_post("/_secrets", set_secrets)
    app.router.add_post("/hook/{name}", hook)
    app.router.add_get("/_received", report)
    app.router.add_post("/_reset", reset)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)

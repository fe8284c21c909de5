"""Helpers of the watch tests: a partner's webhook receiver and bounded waiting."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook
from starlette.types import Receive, Scope, Send

from app.builds import keys as build_keys
from tests.support.asgi import read_body


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """A partner system's endpoint on a free local port; records every request it gets."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)  # accepts (queues) connections before the server runs
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Condition()
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                interface="asgi3",
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> WebhookReceiver:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()

    async def wait_for(self, count: int, timeout_s: float = 60) -> list[Delivery]:
        """Wakes on each arrival (no polling); the deliveries once there are ``count``."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.deliveries) >= count)
        return list(self.deliveries)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every payload, each verified with the `standardwebhooks` library."""
        return [Webhook(secret).verify(d.body, d.headers) for d in self.deliveries]

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        async with self._arrived:
            self.deliveries.append(Delivery(headers, body))
            self._arrived.notify_all()


async def register_webhook(api: httpx.AsyncClient, url: str, event_types: list[str]) -> dict[str, Any]:
    response = await api.post(
        "/v1/webhooks", json={"url": url, "event_types": event_types, "description": "watch tests"}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], deadline_s: float = 30, what: str = "condition"
) -> None:
    """Bounded polling of an observable condition that has no event to await."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not await condition():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached within {deadline_s} s")
        await asyncio.sleep(0.05)


async def polls(redis: Redis, partner: str) -> int:
    """Status polls of the partner so far. Checks storage: the workers' poll counter is the
    only record of them."""
    return int(await redis.hget(build_keys.watch_poll_stats(partner), "polls") or 0)  # type: ignore[misc]

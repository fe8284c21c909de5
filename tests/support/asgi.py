"""Bits shared by the tiny ASGI servers tests run (webhook receivers)."""

from __future__ import annotations

from starlette.types import Receive


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many messages it came in."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body

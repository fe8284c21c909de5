"""One Redis pub/sub connection per API process, fanned out to every subscriber.

A thousand tabs on one package are one channel subscription here and nothing
upstream. The subscription of a channel is confirmed before ``subscribe`` returns,
so a stream that reads the stored status afterwards cannot miss a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from app.observability.metrics import open_stream

logger = logging.getLogger("app.pubsub")

RESYNC = ""  # put in every inbox when messages may have been lost (Redis reconnected)
END = "end"  # put in every inbox when the process shuts down: the stream should end now
INBOX_SIZE = 64  # a slow stream loses its oldest queued changes, never blocks the others
SUBSCRIBE_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 1.0
RETRY_S = 0.5
NEW_CONNECTION_AFTER = 4  # failed reads in a row: ``connect`` again (on a cluster, maybe another node)


class ChannelHub:
    """Channel → the inboxes (queues) of the streams that follow it."""

    def __init__(self, connect: Callable[[], Redis]) -> None:
        """``connect`` makes the hub's client (app/kit/redis.py: a URL, Sentinel or a node of
        a cluster); it is called again when the connection stays lost."""
        self._connect = connect
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._inboxes: dict[str, set[asyncio.Queue[str]]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._ending = False

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[asyncio.Queue[str]]:
        """An inbox of the channel's messages (JSON text) until the block exits."""
        inbox: asyncio.Queue[str] = asyncio.Queue(maxsize=INBOX_SIZE)
        with open_stream():
            try:
                if self._ending:
                    _offer(inbox, END)
                confirmed = await self._add(channel, inbox)
                try:
                    await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_TIMEOUT_S)
                except TimeoutError:
                    logger.warning("subscription to %s not confirmed in time", channel)
                yield inbox
            finally:
                await asyncio.shield(self._remove(channel, inbox))

    @property
    def ending(self) -> bool:
        """Shutdown has begun: a stream that may have missed ``END`` (an inbox it did not read
        for a while drops its oldest items) checks this too."""
        return self._ending

    def end_streams(self) -> None:
        """Shutdown begins: every stream, open or opening, finds ``END`` in its inbox, so
        the server's connections drain now instead of at the end of its grace period."""
        self._ending = True
        self._broadcast(END)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._client is not None:
            await self._client.aclose(close_connection_pool=True)

    async def _add(self, channel: str, inbox: asyncio.Queue[str]) -> asyncio.Event:
        async with self._lock:  # commands go out in the order of this bookkeeping
            self._inboxes.setdefault(channel, set()).add(inbox)
            confirmed = self._confirmed.get(channel)
            if confirmed is None:
                confirmed = self._confirmed[channel] = asyncio.Event()
                await self._connection().subscribe(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="status-hub-reader")
            return confirmed

    async def _remove(self, channel: str, inbox: asyncio.Queue[str]) -> None:
        async with self._lock:
            inboxes = self._inboxes.get(channel)
            if inboxes is None:
                return
            inboxes.discard(inbox)
            if inboxes:
                return
            del self._inboxes[channel]
            self._confirmed.pop(channel, None)
            try:
                await self._connection().unsubscribe(channel)
            except Exception as exc:  # a reconnect re-subscribes only what is still wanted
                logger.warning("unsubscribe from %s failed: %s", channel, exc)

    def _connection(self) -> PubSub:
        if self._pubsub is None:
            # No health_check_interval: its PING would read the socket beside the reader.
            self._client = self._connect()
            self._pubsub = self._client.pubsub()
        return self._pubsub

    async def _read(self) -> None:
        """The one reader: confirmations wake subscribers, messages fill inboxes."""
        broken = False
        failures = 0
        while True:
            try:
                message = await self._connection().get_message(timeout=READ_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not broken:
                    logger.warning("status pub/sub connection lost: %s", exc)
                broken = True
                failures += 1
                if failures % NEW_CONNECTION_AFTER == 0:
                    await self._reconnect()
                await asyncio.sleep(RETRY_S)
                continue
            failures = 0
            if broken:  # reconnected (and re-subscribed): changes may have been missed
                broken = False
                self._broadcast(RESYNC)
            if message is not None:
                self._dispatch(message)

    async def _reconnect(self) -> None:
        """A new connection subscribed to every channel still wanted: the old one's node may
        be gone for good (a cluster's failed primary), where redis-py would retry it forever."""
        async with self._lock:
            old_pubsub, old_client = self._pubsub, self._client
            self._pubsub = self._client = None
            with contextlib.suppress(Exception):
                if old_pubsub is not None:
                    await old_pubsub.aclose()  # type: ignore[no-untyped-call]
                if old_client is not None:
                    await old_client.aclose(close_connection_pool=True)
            if self._inboxes:
                try:
                    await self._connection().subscribe(*self._inboxes)
                except Exception as exc:  # the next failed read tries again
                    logger.warning("status pub/sub not subscribed again yet: %s", exc)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if message["type"] == "subscribe":
            confirmed = self._confirmed.get(channel) if isinstance(channel, str) else None
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message" and isinstance(channel, str):
            for inbox in list(self._inboxes.get(channel, ())):
                _offer(inbox, str(message["data"]))

    def _broadcast(self, item: str) -> None:
        for inboxes in list(self._inboxes.values()):
            for inbox in list(inboxes):
                _offer(inbox, item)


def _offer(inbox: asyncio.Queue[str], item: str) -> None:
    """Never block the reader: a full inbox drops its oldest item."""
    if inbox.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            inbox.get_nowait()
    inbox.put_nowait(item)

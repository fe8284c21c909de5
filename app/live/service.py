"""Live status of one package: the current status now, then every change until the end.

Changes come from Redis (the worker's polls, published by ``StatusStore``), never from
the upstream: opening a stream costs one upstream read (existence, access, current
status), and nothing after that however long it stays open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import AbstractContextManager

from app.builds import keys as build_keys
from app.builds.service import BuildService
from app.builds.statuses import StatusRecord
from app.kit.pubsub import END, RESYNC, ChannelHub
from app.kit.retry import REDIS_ERRORS
from app.kit.settings import Settings
from app.live.slots import stream_slots
from app.upstream import CallContext

logger = logging.getLogger("app.live")

HEARTBEAT = None  # yielded when nothing happened for a heartbeat interval

Update = StatusRecord | None


class LiveService:
    """One instance per process; knows no HTTP."""

    def __init__(self, builds: BuildService, hub: ChannelHub, settings: Settings) -> None:
        self._builds = builds
        self._hub = hub
        self._heartbeat_s = settings.sse_heartbeat_s
        self._slots = stream_slots(settings)

    def slot(self, partner_id: str, subject: str) -> AbstractContextManager[None]:
        """One of the partner's (and the acting subject's) open-stream slots, for a ``with``
        block around the stream's whole life (``app.live.deps.stream_slot``); 429 when a cap
        is reached."""
        return self._slots.hold(partner_id, subject)

    async def open(
        self, ctx: CallContext, package_id: str, last_event_id: int | None, *, until: float
    ) -> AsyncGenerator[Update, None] | None:
        """The stream's updates, or None when the client already saw the final status.

        Raises (404, 401 upstream…) before anything is streamed. A build still running
        gets a watch, so the worker polls it even if nobody created it through the BFF.
        The stream ends at ``until`` (when the caller's token or link expires): the
        browser then asks for a fresh link.
        """
        followed = await self._builds.follow(ctx, package_id, if_terminal=False)
        first = followed.record
        seen = last_event_id or 0
        if seen > first.seq:
            seen = 0  # an id of an older series (the stored status expired meanwhile)
        if first.terminal and seen >= first.seq:
            return None
        return self._updates(ctx.partner_id, followed.package.id, first, seen, until)

    async def _updates(
        self, partner_id: str, package_id: str, first: StatusRecord, seen: int, until: float
    ) -> AsyncGenerator[Update, None]:
        """Status records with ``seq`` above ``seen``, in order, until a terminal one;
        ``HEARTBEAT`` after each quiet interval."""
        channel = build_keys.status_channel(partner_id, package_id)
        async with self._hub.subscribe(channel) as inbox:
            latest = await self._latest(partner_id, package_id)  # changed before we subscribed?
            current = latest if latest is not None and latest.seq >= first.seq else first
            if current.seq > seen:
                yield current
                seen = current.seq
            if current.terminal:
                return
            while (left := until - time.time()) > 0:
                try:
                    message = await asyncio.wait_for(inbox.get(), min(self._heartbeat_s, left))
                except TimeoutError:
                    if time.time() >= until:
                        return
                    yield HEARTBEAT
                    record = await self._latest(partner_id, package_id)  # lost messages heal here
                else:
                    if message == END:  # the server shuts down: EventSource reconnects elsewhere
                        return
                    record = (
                        await self._latest(partner_id, package_id)
                        if message == RESYNC
                        else StatusRecord.parse(message)
                    )
                if record is None or record.seq <= seen:
                    continue
                yield record
                seen = record.seq
                if record.terminal:
                    return

    async def _latest(self, partner_id: str, package_id: str) -> StatusRecord | None:
        try:
            return await self._builds.latest(partner_id, package_id)
        except REDIS_ERRORS as exc:
            logger.warning("status of %s/%s unreadable: %s", partner_id, package_id, exc)
            return None

"""The partner's activity, live: every event as it is appended, for the SPA's list page.

A stream subscribes to the partner's channel through the process's one subscription
(``ChannelHub``) first, then reads what it must catch up on (after ``Last-Event-ID``), then
relays what the channel brings, skipping what it already sent. Each message carries the
previous entry's id: when that is not the last one this stream sent, something was lost
(the inbox dropped its oldest, or Redis reconnected: ``RESYNC``) and the stream re-reads
from its last id. So a thousand open streams of one partner cost one pub/sub message per
event per process and no read of their own, and none loses an event within retention.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog, Entry
from app.activity.positions import Position
from app.kit.pubsub import END, RESYNC, ChannelHub

CATCH_UP_PAGE = 200


class Slots(Protocol):
    """Where open streams are counted (``app.live.service.LiveService.slot``: one cap for
    both kinds of stream)."""

    def __call__(self, partner_id: str, subject: str) -> AbstractContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One event to send: its position (the SSE ``id:``) and its item JSON."""

    position: Position
    item: str


Update = Frame | None  # None: a heartbeat
# What a catch-up read costs the partner's rate limit: (partner, bytes read); a long catch-up
# (a reconnect from long ago) is paid like the feed pages it reads.
Charge = Callable[[str, int], None]


class ActivityStreams:
    """One per process."""

    def __init__(
        self,
        log: ActivityLog,
        hub: ChannelHub,
        slots: Slots,
        heartbeat_s: float,
        *,
        charge: Charge | None = None,
    ) -> None:
        self._log = log
        self._hub = hub
        self.slot = slots
        self._heartbeat_s = heartbeat_s
        self._charge = charge

    async def updates(
        self, partner_id: str, last_event_id: Position | None, *, until: float
    ) -> AsyncGenerator[Update, None]:
        """Events after ``last_event_id`` (None: from the moment the stream opens), then as
        they come, until ``until`` (the link's or token's expiry) or the
        server's shutdown."""
        # "Now" is the newest entry before subscribing: what is appended while the subscription
        # is being confirmed is read by the catch-up below, and from then on a message whose
        # previous entry is not the last one sent reveals a gap, from the very first event.
        sent = last_event_id if last_event_id is not None else await self._log.last(partner_id)
        async with self._hub.subscribe(activity_keys.activity_channel(partner_id)) as inbox:
            async for frame in self._catch_up(partner_id, sent, until):
                yield frame
                sent = frame.position
            while (left := until - time.time()) > 0 and not self._hub.ending:
                try:
                    message = await asyncio.wait_for(inbox.get(), min(self._heartbeat_s, left))
                except TimeoutError:
                    if time.time() < until:
                        yield None
                    continue
                if message == END:  # the server shuts down: EventSource reconnects elsewhere
                    return
                if message != RESYNC:
                    prev, frame = _parsed(message)
                    if frame.position <= sent:
                        continue  # sent already (it came while catching up)
                    if prev <= sent:
                        yield frame
                        sent = frame.position
                        continue
                async for frame in self._catch_up(partner_id, sent, until):  # a gap: read it
                    yield frame
                    sent = frame.position

    async def _catch_up(self, partner_id: str, after: Position, until: float) -> AsyncGenerator[Frame, None]:
        """The entries after ``after``, page by page, until the end of the log (or the link's
        expiry, or the server's shutdown: a long catch-up reads no inbox, so no ``END``)."""
        while time.time() < until and not self._hub.ending:
            page = await self._log.read(partner_id, after, CATCH_UP_PAGE)
            if self._charge is not None:
                self._charge(partner_id, sum(len(entry.body) for entry in page.entries))
            for entry in page.entries:
                yield _frame(entry)
            after = page.reached
            if page.done:
                return


def _frame(entry: Entry) -> Frame:
    return Frame(entry.position, entry.item_json())


def _parsed(message: str) -> tuple[Position, Frame]:
    """``prev-id new-id item`` as published by the append: the previous entry's position and
    the new entry's frame."""
    prev, entry_id, item = message.split(" ", 2)
    return Position.parse(prev), Frame(Position.parse(entry_id), item)

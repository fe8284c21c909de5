"""The one door through which the service's events go out: logged, then delivered.

Every ``package.*`` and ``export.*`` event is appended to the partner's activity log first
(once per event: the log dedupes on the message id) and then handed to the webhooks with
the body the log kept, so the feed, the live stream and every endpoint see one id and the
same bytes, even when a crash makes the caller emit twice. ``package.status`` is appended
by the status scripts themselves (``app/builds/statuses.py``), in the call that decides the
change; ``StatusAnnouncer`` then hands those to the webhooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from arq.connections import ArqRedis

from app.activity.log import ActivityLog, OwedStatus
from app.webhooks.dispatch import NextAttempt, dispatch_event
from app.webhooks.events import EventData, WebhookEventType, event_body
from app.webhooks.models import EndpointRecord, message_id
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app.activity")

STATUS_EVENT = WebhookEventType.PACKAGE_STATUS


async def emit_event(
    log: ActivityLog,
    webhooks: WebhookStore,
    queue: ArqRedis,
    *,
    partner_id: str,
    event_type: WebhookEventType,
    event_key: str,
    package_id: str | None,
    data: EventData,
    batch: list[NextAttempt] | None = None,
    endpoints: Sequence[EndpointRecord] | None = None,
) -> int:
    """Log the event (once per ``event_key``), then dispatch it to the partner's endpoints
    (``app.webhooks.dispatch.dispatch_event``: same ``batch``/``endpoints``). Idempotent."""
    body = event_body(event_type, data, time.time())
    appended = await log.append(partner_id, message_id(event_key), event_type, package_id, body)
    return await dispatch_event(
        webhooks,
        queue,
        partner_id=partner_id,
        event_type=event_type,
        event_key=event_key,
        body=appended.body,
        batch=batch,
        endpoints=endpoints,
    )


@dataclass(frozen=True, slots=True)
class LoggedStatus:
    """A ``package.status`` event the status scripts appended: its key, its body, and its
    member of the set of events owed to the webhooks."""

    event_key: str
    body: str
    owed: str


class StatusAnnouncer:
    """Hands the ``package.status`` events a status script logged to the partner's endpoints
    subscribed to them (one read of the endpoints per call), then settles them: until then
    they are owed, so those of a process killed in between are sent by ``sweep_owed``."""

    def __init__(self, log: ActivityLog, webhooks: WebhookStore, queue: ArqRedis) -> None:
        self._log = log
        self._webhooks = webhooks
        self._queue = queue

    async def __call__(self, partner_id: str, events: Sequence[LoggedStatus]) -> None:
        if not events:
            return
        endpoints = await self._webhooks.list_endpoints(partner_id)
        if any(e.enabled and STATUS_EVENT in e.event_types for e in endpoints):
            for event in events:
                await dispatch_event(
                    self._webhooks,
                    self._queue,
                    partner_id=partner_id,
                    event_type=STATUS_EVENT,
                    event_key=event.event_key,
                    body=event.body,
                    endpoints=endpoints,
                )
        await self._log.settle_owed([event.owed for event in events])

    async def sweep_owed(self, *, older_than_ms: int, limit: int = 500) -> int:
        """Dispatch what killed processes left owed (dispatch is idempotent per event, so one
        that was sent already is not sent again); returns how many were settled."""
        owed = await self._log.owed_statuses(older_than_ms=older_than_ms, limit=limit)
        by_partner: dict[str, list[OwedStatus]] = {}
        for status in owed:
            by_partner.setdefault(status.partner_id, []).append(status)
        for partner_id, statuses in by_partner.items():
            try:
                await self._settle(partner_id, statuses)
            except Exception as exc:
                logger.warning("owed package.status webhooks of %s not settled: %r", partner_id, exc)
        return len(owed)

    async def _settle(self, partner_id: str, statuses: Sequence[OwedStatus]) -> None:
        bodies = await self._log.bodies(partner_id, [status.entry_id for status in statuses])
        events = [
            LoggedStatus(status.event_key, body, status.member)
            for status, body in zip(statuses, bodies, strict=True)
            if body is not None
        ]
        # Trimmed since (past retention): nothing left to send.
        await self._log.settle_owed(
            [s.member for s, body in zip(statuses, bodies, strict=True) if body is None]
        )
        await self(partner_id, events)

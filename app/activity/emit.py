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

from app.activity.log import ActivityLog
from app.webhooks.dispatch import NextAttempt, dispatch_event
from app.webhooks.events import EventData, StatusEventType, SubscribableEventType, event_body
from app.webhooks.models import EndpointRecord, message_id
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app.activity")

STATUS_EVENT: StatusEventType = "package.status"


async def emit_event(
    log: ActivityLog,
    webhooks: WebhookStore,
    queue: ArqRedis,
    *,
    partner_id: str,
    event_type: SubscribableEventType,
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
    """A ``package.status`` event the status scripts appended: its key and its body."""

    event_key: str
    body: str


class StatusAnnouncer:
    """Hands the ``package.status`` events a status script logged to the partner's endpoints
    subscribed to them: one read of the endpoints per call, nothing more when none is."""

    def __init__(self, webhooks: WebhookStore, queue: ArqRedis) -> None:
        self._webhooks = webhooks
        self._queue = queue

    async def __call__(self, partner_id: str, events: Sequence[LoggedStatus]) -> None:
        if not events:
            return
        endpoints = await self._webhooks.list_endpoints(partner_id)
        if not any(e.enabled and STATUS_EVENT in e.event_types for e in endpoints):
            return
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

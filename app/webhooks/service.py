"""Webhook endpoints of a partner: registry, secret rotation, test events, delivery log."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid

from arq.connections import ArqRedis

from app.kit.cursors import decode_cursor, encode_cursor
from app.kit.errors import Conflict, NotFound, TooManyRequests, ValidationProblem, field_error
from app.kit.settings import Settings
from app.webhooks import ssrf
from app.webhooks.dispatch import NextAttempt, deliver_to, enqueue_attempt
from app.webhooks.events import TEST_EVENT_TYPE, WebhookTestData, event_body
from app.webhooks.models import SECRET_OVERLAP_S, AttemptRecord, DeliveryRecord, EndpointRecord
from app.webhooks.schemas import (
    RECOVER_BATCH,
    Attempt,
    Delivery,
    DeliveryAccepted,
    DeliveryPage,
    Endpoint,
    EndpointCreate,
    EndpointList,
    EndpointUpdate,
    EndpointWithSecret,
    RecoverAccepted,
    RecoverRequest,
)
from app.webhooks.signing import new_secret
from app.webhooks.store import WebhookStore

MAX_ENDPOINTS_PER_PARTNER = 50
ENDPOINT_ID = re.compile(r"^ep_[0-9a-f]{32}$")
DELIVERY_ID = re.compile(r"^dlv_[0-9a-f]{32}$")


def _time(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value else None


def endpoint_view(endpoint: EndpointRecord) -> Endpoint:
    expires = endpoint.previous_secret_expires_at
    return Endpoint(
        id=endpoint.id,
        url=endpoint.url,
        event_types=endpoint.event_types,
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=None if endpoint.enabled else endpoint.disabled_reason,
        disabled_at=None if endpoint.enabled else _time(endpoint.disabled_at),
        failing_since=_time(endpoint.failing_since),
        previous_secret_expires_at=_time(expires) if expires and expires > time.time() else None,
        created_at=_time(endpoint.created_at),
        updated_at=_time(endpoint.updated_at),
    )


def attempt_view(attempt: AttemptRecord) -> Attempt:
    return Attempt.model_validate({**attempt.model_dump(exclude={"at"}), "at": _time(attempt.at)})


def delivery_view(delivery: DeliveryRecord, attempts: list[AttemptRecord]) -> Delivery:
    return Delivery(
        id=delivery.id,
        message_id=delivery.msg_id,
        endpoint_id=delivery.endpoint_id,
        event_type=delivery.event_type,
        status=delivery.status,
        failure_reason=delivery.failure_reason if delivery.status == "failed" else None,
        next_attempt_at=_time(delivery.next_attempt_at) if delivery.status == "pending" else None,
        created_at=_time(delivery.created_at),
        updated_at=_time(delivery.updated_at),
        payload=json.loads(delivery.body),
        attempts=[attempt_view(a) for a in attempts],
    )


def accepted(delivery: DeliveryRecord) -> DeliveryAccepted:
    return DeliveryAccepted(
        id=delivery.id, message_id=delivery.msg_id, event_type=delivery.event_type, status=delivery.status
    )


class WebhookService:
    def __init__(self, store: WebhookStore, queue: ArqRedis, settings: Settings) -> None:
        self._store = store
        self._queue = queue
        self._settings = settings

    async def create(self, partner_id: str, body: EndpointCreate) -> EndpointWithSecret:
        await self._check_url(body.url)
        now = time.time()
        endpoint = EndpointRecord(
            id=f"ep_{uuid.uuid4().hex}",
            partner_id=partner_id,
            url=body.url,
            event_types=list(body.event_types),
            description=body.description,
            created_at=now,
            updated_at=now,
            secret=new_secret(),
        )
        if not await self._store.add_endpoint(endpoint, limit=MAX_ENDPOINTS_PER_PARTNER):
            raise Conflict(
                f"a partner may register at most {MAX_ENDPOINTS_PER_PARTNER} webhook "
                "endpoints; delete one first"
            )
        return EndpointWithSecret(**endpoint_view(endpoint).model_dump(), secret=endpoint.secret)

    async def list(self, partner_id: str) -> EndpointList:
        return EndpointList(items=[endpoint_view(e) for e in await self._store.list_endpoints(partner_id)])

    async def get(self, partner_id: str, endpoint_id: str) -> Endpoint:
        return endpoint_view(await self._endpoint(partner_id, endpoint_id))

    async def update(self, partner_id: str, endpoint_id: str, body: EndpointUpdate) -> Endpoint:
        await self._endpoint(partner_id, endpoint_id)
        given = body.model_fields_set
        values: dict[str, str] = {"updated_at": repr(time.time())}
        remove: list[str] = []
        if "url" in given and body.url is not None:
            await self._check_url(body.url)
            values["url"] = body.url
        if "event_types" in given and body.event_types is not None:
            values["event_types"] = json.dumps(body.event_types)
        if "description" in given:
            if body.description is None:
                remove.append("description")
            else:
                values["description"] = body.description
        if "enabled" in given and body.enabled is not None:
            values["enabled"] = "1" if body.enabled else "0"
            if body.enabled:  # a fresh start: the failure streak and the reason go
                remove += ["failing_since", "disabled_reason", "disabled_at"]
            else:
                values.update(disabled_reason="disabled by the partner", disabled_at=values["updated_at"])
        if not await self._store.update_endpoint(partner_id, endpoint_id, values, tuple(remove)):
            raise NotFound("webhook endpoint", endpoint_id)
        return await self.get(partner_id, endpoint_id)

    async def delete(self, partner_id: str, endpoint_id: str) -> None:
        if not ENDPOINT_ID.match(endpoint_id) or not await self._store.delete_endpoint(
            partner_id, endpoint_id
        ):
            raise NotFound("webhook endpoint", endpoint_id)

    async def rotate_secret(self, partner_id: str, endpoint_id: str) -> EndpointWithSecret:
        """A new secret signs from now on; the old one keeps signing for 24 h."""
        endpoint = await self._endpoint(partner_id, endpoint_id)
        now, secret = time.time(), new_secret()
        values = {
            "secret": secret,
            "previous_secret": endpoint.secret,
            "previous_secret_expires_at": repr(now + SECRET_OVERLAP_S),
            "updated_at": repr(now),
        }
        if not await self._store.update_endpoint(partner_id, endpoint_id, values):
            raise NotFound("webhook endpoint", endpoint_id)
        view = await self.get(partner_id, endpoint_id)
        return EndpointWithSecret(**view.model_dump(), secret=secret)

    async def send_test(self, partner_id: str, endpoint_id: str) -> DeliveryAccepted:
        """A ``webhook.test`` event to this endpoint now, whatever its event types."""
        endpoint = self._enabled(await self._endpoint(partner_id, endpoint_id))
        await self._count_test_send(partner_id, endpoint_id)
        now = time.time()
        data = WebhookTestData(
            endpoint_id=endpoint.id,
            partner_id=partner_id,
            message="a test event from the Package Builder BFF",
        )
        delivery, _ = await deliver_to(
            self._store,
            self._queue,
            endpoint,
            event_type=TEST_EVENT_TYPE,
            event_key=f"{TEST_EVENT_TYPE}:{uuid.uuid4().hex}",
            body=event_body(TEST_EVENT_TYPE, data, now),
            now=now,
        )
        return accepted(delivery)

    async def deliveries(
        self, partner_id: str, endpoint_id: str, *, cursor: str | None, limit: int
    ) -> DeliveryPage:
        await self._endpoint(partner_id, endpoint_id)
        after = decode_cursor(cursor) if cursor else None
        page, last = await self._store.page_deliveries(partner_id, endpoint_id, after=after, limit=limit)
        return DeliveryPage(
            items=[delivery_view(d, attempts) for d, attempts in page],
            next_cursor=encode_cursor(*last) if last else None,
        )

    async def redeliver(self, partner_id: str, endpoint_id: str, delivery_id: str) -> DeliveryAccepted:
        """Send again, same body and same webhook-id, with a fresh retry schedule."""
        self._enabled(await self._endpoint(partner_id, endpoint_id))
        delivery = (
            await self._store.get_delivery(partner_id, delivery_id)
            if DELIVERY_ID.match(delivery_id)
            else None
        )
        if delivery is None or delivery.endpoint_id != endpoint_id:
            raise NotFound("webhook delivery", delivery_id)
        round_ = await self._store.restart_delivery(partner_id, delivery_id, now=time.time())
        if round_ is None:
            raise NotFound("webhook delivery", delivery_id)
        await enqueue_attempt(self._queue, NextAttempt(partner_id, delivery_id, round_, 1))
        return accepted(delivery.model_copy(update={"status": "pending", "round": round_}))

    async def recover(self, partner_id: str, endpoint_id: str, window: RecoverRequest) -> RecoverAccepted:
        """After an outage at the receiver: every delivery of the window that failed for good
        is sent again (same body and ``webhook-id``, a fresh retry schedule), as Svix does."""
        self._enabled(await self._endpoint(partner_id, endpoint_id))
        since = window.since.timestamp()
        until = window.until.timestamp() if window.until else time.time()
        scanned = await self._store.deliveries_between(
            partner_id, endpoint_id, since=since, until=until, limit=RECOVER_BATCH + 1
        )
        failed = [d for d in scanned[:RECOVER_BATCH] if d.status == "failed"]
        for delivery in failed:
            round_ = await self._store.restart_delivery(partner_id, delivery.id, now=time.time())
            if round_ is not None:
                await enqueue_attempt(self._queue, NextAttempt(partner_id, delivery.id, round_, 1))
        return RecoverAccepted(recovering=len(failed), more=len(scanned) > RECOVER_BATCH)

    async def _count_test_send(self, partner_id: str, endpoint_id: str) -> None:
        """``BFF_WEBHOOK_TEST_SENDS_PER_HOUR`` per endpoint; 429 past it."""
        limit = self._settings.webhook_test_sends_per_hour
        sent, wait_s = await self._store.count_test_send(partner_id, endpoint_id)
        if sent > limit:
            raise TooManyRequests(
                f"at most {limit} test events an hour may go to one endpoint; "
                f"the next one can go in {wait_s} s",
                headers={"Retry-After": str(wait_s)},
            )

    async def _endpoint(self, partner_id: str, endpoint_id: str) -> EndpointRecord:
        endpoint = (
            await self._store.get_endpoint(partner_id, endpoint_id)
            if ENDPOINT_ID.match(endpoint_id)
            else None
        )
        if endpoint is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return endpoint

    @staticmethod
    def _enabled(endpoint: EndpointRecord) -> EndpointRecord:
        if not endpoint.enabled:
            raise Conflict(
                f"webhook endpoint {endpoint.id!r} is disabled "
                f"({endpoint.disabled_reason}); PATCH enabled=true first"
            )
        return endpoint

    async def _check_url(self, url: str) -> None:
        """Shape always; addresses too unless BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS is set."""
        if self._settings.webhook_allow_private_targets:
            problem = ssrf.url_problem(url)
        else:
            problem = await ssrf.target_problem(url)
        if problem is not None:
            raise ValidationProblem(
                f"url: {problem}",
                errors=[field_error(["body", "url"], problem, "value_error.url")],
            )

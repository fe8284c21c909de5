"""One delivery attempt: sign the stored body, POST it, log the attempt, plan the next one.

2xx is success; anything else (3xx included: redirects are never followed) is a
failure retried on ``BFF_WEBHOOK_RETRY_SCHEDULE``; 410 Gone disables the
endpoint at once; an endpoint failing everything for
``BFF_WEBHOOK_DISABLE_AFTER_S`` is disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import enum
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from app.kit.settings import Settings
from app.observability.metrics import observe_webhook_attempt
from app.webhooks.dispatch import NextAttempt, due_attempt
from app.webhooks.models import AttemptRecord, DeliveryRecord, EndpointRecord
from app.webhooks.signing import signature_header
from app.webhooks.ssrf import TargetRefused, refusal
from app.webhooks.store import WebhookStore
from app.webhooks.transport import Answer, WebhookClient

logger = logging.getLogger("app.webhooks")

USER_AGENT = "PackageBuilder-BFF-Webhooks/1.0 (+https://www.standardwebhooks.com)"
MAX_SEND_S = 25.0  # below the arq job timeout, so an attempt always gets logged
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})
RETRY_AFTER_CAP_S = 3600.0
JITTER = 0.2


def make_webhook_client(settings: Settings) -> WebhookClient:
    """The one client of a worker for partner endpoints: no redirects, no proxies from the
    environment, no cookies (one partner's endpoint must never see another's), and (unless
    private targets are allowed) the SSRF guard in every connect."""
    policy = None if settings.webhook_allow_private_targets else refusal
    return WebhookClient(policy, user_agent=USER_AGENT)


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after_s: float | None = None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def send(
    client: WebhookClient,
    url: str,
    *,
    msg_id: str,
    body: bytes,
    signing_secrets: Sequence[str],
    timeout_s: float,
) -> SendResult:
    """POST the body once with fresh ``webhook-timestamp`` and signatures; never raises."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing_secrets, msg_id, timestamp, body),
    }
    limit_s = min(timeout_s, MAX_SEND_S)
    try:
        async with asyncio.timeout(limit_s):
            answer = await client.post(url, body, headers)
    except TimeoutError:
        return SendResult(error=f"timed out after {limit_s:g} s")
    except TargetRefused as exc:
        return SendResult(error=str(exc), refused=True)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return SendResult(error=f"{exc.__class__.__name__}: {exc}")
    except Exception as exc:  # an attempt must always be logged, whatever went wrong
        logger.exception("webhook %s: unexpected error while sending", msg_id)
        return SendResult(error=f"unexpected error: {exc.__class__.__name__}: {exc}")
    return SendResult(
        status_code=answer.status,
        latency_ms=answer.latency_ms,
        error=_status_error(answer),
        response_body=answer.body_prefix.decode("utf-8", errors="replace"),
        retry_after_s=(
            parse_retry_after(answer.retry_after, now=time.time())
            if answer.status in RETRY_AFTER_STATUSES
            else None
        ),
    )


def _status_error(answer: Answer) -> str | None:
    code = answer.status
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        return f"HTTP {code}: redirect to {answer.location or ''!r} not followed (only 2xx is success)"
    return f"HTTP {code}"


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), or None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def retry_delay(
    schedule: Sequence[float],
    attempt: int,
    retry_after_s: float | None,
    *,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds until the attempt after ``attempt`` (1-based), or None when it was the last.

    The scheduled delay gets ±20 % jitter; a ``Retry-After`` longer than that is honoured
    up to twice the scheduled delay or an hour, whichever is longer.
    """
    if attempt > len(schedule):
        return None
    scheduled = schedule[attempt - 1]
    delay = scheduled * (1 + JITTER * (2 * rng() - 1))
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max(2 * scheduled, RETRY_AFTER_CAP_S)))
    return delay


async def attempt_delivery(
    store: WebhookStore,
    client: WebhookClient,
    settings: Settings,
    *,
    partner_id: str,
    delivery_id: str,
    round_: int,
    attempt: int,
) -> NextAttempt | None:
    """Run attempt ``attempt`` of ``round_`` and return the attempt to enqueue next, if any.

    Safe to run twice (arq is at-least-once): a superseded round or an attempt already
    logged sends nothing; a rerun finding its successor unqueued returns it again.
    """
    delivery = await store.get_delivery(partner_id, delivery_id)
    return await _attempt(store, client, settings, delivery, round_, attempt, endpoints=None)


class NotStarted(enum.Enum):
    """An attempt ``attempt_deliveries`` did not make: no lane was free in time."""

    NOT_STARTED = "not started"


NOT_STARTED = NotStarted.NOT_STARTED


async def attempt_deliveries(
    store: WebhookStore,
    client: WebhookClient,
    settings: Settings,
    *,
    partner_id: str,
    attempts: Sequence[tuple[str, int, int]],
    lanes: int | None = None,
    start_by: float | None = None,
) -> list[NextAttempt | BaseException | NotStarted | None]:
    """``attempt_delivery`` for many deliveries of one partner at once, each (delivery id,
    round, attempt): the deliveries are read in one round trip and their endpoints in
    another, then sent concurrently. An attempt that raised is returned as its exception.
    With ``lanes``, at most that many run at once, and one that found no free lane by
    ``start_by`` (``time.monotonic()``) is not made: ``NOT_STARTED``."""
    deliveries = await store.get_deliveries(partner_id, [delivery_id for delivery_id, _, _ in attempts])
    endpoints = await store.get_endpoints(
        partner_id, sorted({delivery.endpoint_id for delivery in deliveries if delivery is not None})
    )
    lane = asyncio.Semaphore(lanes) if lanes is not None else contextlib.nullcontext()

    async def in_lane(
        delivery: DeliveryRecord | None, round_: int, attempt: int
    ) -> NextAttempt | NotStarted | None:
        async with lane:
            if start_by is not None and time.monotonic() > start_by:
                return NOT_STARTED
            return await _attempt(store, client, settings, delivery, round_, attempt, endpoints=endpoints)

    return await asyncio.gather(
        *(
            in_lane(delivery, round_, attempt)
            for delivery, (_, round_, attempt) in zip(deliveries, attempts, strict=True)
        ),
        return_exceptions=True,
    )


async def _attempt(
    store: WebhookStore,
    client: WebhookClient,
    settings: Settings,
    delivery: DeliveryRecord | None,
    round_: int,
    attempt: int,
    *,
    endpoints: Mapping[str, EndpointRecord] | None,
) -> NextAttempt | None:
    """One attempt of a delivery as read; ``endpoints``: the partner's, when read already."""
    if delivery is None or delivery.status != "pending" or delivery.round != round_:
        return None
    if attempt != delivery.next_attempt:
        return due_attempt(delivery, time.time()) if attempt < delivery.next_attempt else None
    endpoint = (
        endpoints.get(delivery.endpoint_id)
        if endpoints is not None
        else await store.get_endpoint(delivery.partner_id, delivery.endpoint_id)
    )
    if endpoint is None or not endpoint.enabled:
        reason = "endpoint was deleted" if endpoint is None else "endpoint is disabled"
        await _give_up(store, delivery, reason)
        return None
    result = await send(
        client,
        endpoint.url,
        msg_id=delivery.msg_id,
        body=delivery.body.encode(),
        signing_secrets=endpoint.signing_secrets(time.time()),
        timeout_s=settings.webhook_timeout_s,
    )
    await _update_endpoint_health(store, settings, endpoint, result)
    return await _log_attempt(store, settings, delivery, attempt, result)


async def _give_up(store: WebhookStore, delivery: DeliveryRecord, reason: str) -> None:
    now = time.time()
    finished = delivery.model_copy(
        update={"status": "failed", "failure_reason": reason, "next_attempt_at": None, "updated_at": now}
    )
    await store.advance_delivery(finished, None)
    logger.info("webhook delivery %s failed without an attempt: %s", delivery.id, reason)


async def _log_attempt(
    store: WebhookStore, settings: Settings, delivery: DeliveryRecord, attempt: int, result: SendResult
) -> NextAttempt | None:
    now = time.time()
    gone = result.status_code == 410
    delay = (
        None
        if result.succeeded or gone
        else retry_delay(settings.webhook_retry_schedule, attempt, result.retry_after_s)
    )
    outcome = "succeeded" if result.succeeded else ("refused" if result.refused else "failed")
    observe_webhook_attempt(outcome, result.latency_ms)
    record = AttemptRecord(
        number=attempt,
        round=delivery.round,
        at=now,
        outcome=outcome,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
        response_body=result.response_body,
        next_attempt_in_s=delay,
    )
    update: dict[str, object] = {"updated_at": now, "next_attempt": attempt + 1}
    if result.succeeded:
        update.update(status="succeeded", next_attempt_at=None)
    elif delay is None:
        reason = (
            "the endpoint answered 410 Gone and was disabled"
            if gone
            else f"gave up after {attempt} attempts; last: {result.error}"
        )
        update.update(status="failed", next_attempt_at=None, failure_reason=reason)
    else:
        update.update(next_attempt_at=now + delay)
    advanced = delivery.model_copy(update=update)
    logger.info(
        "webhook %s attempt %d.%d: %s %s",
        delivery.msg_id,
        delivery.round,
        attempt,
        outcome,
        result.status_code or result.error,
    )
    if not await store.advance_delivery(advanced, record):
        return None  # redelivered meanwhile, or a duplicate run logged it first
    return due_attempt(advanced, now) if advanced.status == "pending" else None


async def _update_endpoint_health(
    store: WebhookStore, settings: Settings, endpoint: EndpointRecord, result: SendResult
) -> None:
    """A success ends the failure streak; 410 disables at once; a streak too long disables.

    The endpoint was read just before the attempt: with no streak then, there is none to
    end (one write fewer per delivery). A streak begun meanwhile by a concurrent failure is
    ended by the next success, which reads it."""
    if result.succeeded:
        if endpoint.failing_since is not None:
            await store.record_endpoint_success(endpoint.partner_id, endpoint.id)
        return
    now = time.time()
    if result.status_code == 410:
        await store.update_endpoint(
            endpoint.partner_id,
            endpoint.id,
            {
                "enabled": "0",
                "disabled_reason": "the endpoint answered 410 Gone",
                "disabled_at": repr(now),
                "updated_at": repr(now),
            },
        )
        logger.warning("webhook endpoint %s disabled: 410 Gone", endpoint.id)
        return
    if await store.record_endpoint_failure(
        endpoint.partner_id, endpoint.id, now=now, disable_after_s=settings.webhook_disable_after_s
    ):
        logger.warning("webhook endpoint %s disabled: failing for too long", endpoint.id)

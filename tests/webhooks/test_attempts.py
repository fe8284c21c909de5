"""One attempt in isolation: the retry policy, Retry-After, timeouts, the guarded connection."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator

import pytest

from app.kit.settings import Settings
from app.webhooks.delivery import (
    attempt_deliveries,
    attempt_delivery,
    make_webhook_client,
    parse_retry_after,
    retry_delay,
    send,
)
from app.webhooks.signing import new_secret
from app.webhooks.store import WebhookStore
from app.webhooks.transport import RESPONSE_BODY_LIMIT, WebhookClient
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import deliveries, register, stored_delivery

SCHEDULE = [5.0, 300.0, 1800.0]


@pytest.mark.parametrize(("attempt", "scheduled"), [(1, 5.0), (2, 300.0), (3, 1800.0)])
def test_delays_follow_the_schedule_within_20_percent_jitter(attempt, scheduled):
    low = retry_delay(SCHEDULE, attempt, None, rng=lambda: 0.0)
    high = retry_delay(SCHEDULE, attempt, None, rng=lambda: 1.0)
    assert low == pytest.approx(scheduled * 0.8) and high == pytest.approx(scheduled * 1.2)


def test_after_the_last_scheduled_attempt_there_is_none():
    assert retry_delay(SCHEDULE, len(SCHEDULE) + 1, None) is None


def test_retry_after_is_honoured_within_bounds():
    middle = 0.5  # no jitter
    assert retry_delay(SCHEDULE, 1, 60, rng=lambda: middle) == 60  # longer than 5 s: honoured
    assert retry_delay(SCHEDULE, 1, 1, rng=lambda: middle) == 5  # shorter: the schedule wins
    assert retry_delay(SCHEDULE, 1, 86400, rng=lambda: middle) == 3600  # capped at an hour
    assert retry_delay(SCHEDULE, 3, 86400, rng=lambda: middle) == 3600  # or 2x the step (3600)


def test_retry_after_parses_seconds_and_http_dates():
    now = 1_800_000_000.0
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0
    assert parse_retry_after("soon", now=now) is None and parse_retry_after(None, now=now) is None


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    """The worker's webhook client, allowed to reach the local receiver."""
    webhook_client = make_webhook_client(Settings(webhook_allow_private_targets=True))
    yield webhook_client
    await webhook_client.aclose()


async def test_a_429_with_retry_after_reports_it(receiver: Receiver, client: WebhookClient):
    url = receiver.hook(then=429, headers={"retry-after": "42"})
    result = await send(client, url, msg_id="msg_1", body=b"{}", signing_secrets=[new_secret()], timeout_s=5)
    assert result.status_code == 429 and result.retry_after_s == 42 and not result.succeeded


async def test_a_slow_receiver_is_a_timed_out_attempt(receiver: Receiver, client: WebhookClient):
    url = receiver.hook(delay_s=2.0)
    result = await send(
        client, url, msg_id="msg_1", body=b"{}", signing_secrets=[new_secret()], timeout_s=0.3
    )
    assert result.status_code is None and "timed out" in (result.error or "")


async def test_response_body_is_kept_to_its_first_2_kb(receiver: Receiver, client: WebhookClient):
    url = receiver.hook(then=500, body_size=64 * 1024)
    result = await send(client, url, msg_id="msg_1", body=b"{}", signing_secrets=[new_secret()], timeout_s=5)
    assert result.response_body is not None and result.response_body.startswith("answer 500")
    assert len(result.response_body.encode()) == RESPONSE_BODY_LIMIT


async def test_guarded_connection_goes_to_the_checked_address_and_keeps_the_host(receiver: Receiver):
    """With a policy that allows loopback, 'localhost' is resolved by the guard, checked, and
    connected to by address, while the request still names the host it was sent to."""
    checked: list[tuple[str, list[str]]] = []

    def allow_all(host, addresses):
        checked.append((host, [str(a) for a in addresses]))
        return None

    url = receiver.hook().replace("127.0.0.1", "localhost")
    client = WebhookClient(allow_all, user_agent="test")
    try:
        answer = await client.post(url, b"{}", {})
    finally:
        await client.aclose()
    assert answer.status == 200
    assert checked and checked[0][0] == "localhost" and "127.0.0.1" in checked[0][1]
    [request] = receiver.received(url)
    assert request.headers["host"] == url.split("/")[2]


async def test_the_request_asks_for_an_unencoded_answer_and_names_the_client(
    receiver: Receiver, client: WebhookClient
):
    """``identity``: an endpoint's answer is logged as sent and can never expand in memory."""
    url = receiver.hook()
    await send(client, url, msg_id="msg_1", body=b'{"a":1}', signing_secrets=[new_secret()], timeout_s=5)
    [request] = receiver.received(url)
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["user-agent"].startswith("PackageBuilder-BFF-Webhooks/")
    assert request.headers["content-type"] == "application/json" and request.body == b'{"a":1}'


async def test_an_answer_not_read_to_its_end_closes_its_connection(receiver: Receiver):
    """The pool reuses a connection only after a whole answer. A long one (more than aiohttp
    buffers before it stops reading the socket) is cut after 2 KB, and its connection closed."""
    client = WebhookClient(None, user_agent="test")
    short, long, after_long = receiver.hook(), receiver.hook(body_size=8 << 20), receiver.hook()
    try:
        for url in (short, short, long, after_long):
            answer = await client.post(url, b"{}", {})
            assert answer.status == 200
    finally:
        await client.aclose()
    assert len(answer.body_prefix) < RESPONSE_BODY_LIMIT  # the short one, whole
    first, second = receiver.received(short)
    [cut] = receiver.received(long)
    [next_one] = receiver.received(after_long)
    assert first.client_port == second.client_port == cut.client_port  # whole answers: reused
    assert next_one.client_port != cut.client_port


async def test_the_worker_client_refuses_a_host_name_that_resolves_to_a_private_address(receiver: Receiver):
    url = receiver.hook().replace("127.0.0.1", "localhost")
    client = make_webhook_client(Settings(webhook_allow_private_targets=False))
    try:
        result = await send(
            client, url, msg_id="msg_1", body=b"{}", signing_secrets=[new_secret()], timeout_s=5
        )
    finally:
        await client.aclose()
    assert result.refused and result.status_code is None
    assert "localhost" in (result.error or "") and "loopback" in (result.error or "")
    assert receiver.received(url) == []


async def test_the_worker_client_keeps_no_cookie_from_an_endpoint(receiver: Receiver, client: WebhookClient):
    url = receiver.hook(headers={"Set-Cookie": "session=endpoint-a; Path=/"})
    await send(client, url, msg_id="msg_1", body=b"{}", signing_secrets=[new_secret()], timeout_s=5)
    other = receiver.hook()
    await send(client, other, msg_id="msg_2", body=b"{}", signing_secrets=[new_secret()], timeout_s=5)
    [request] = receiver.received(other)
    assert "cookie" not in request.headers


async def test_an_attempt_run_twice_is_sent_once(api, partner, receiver: Receiver, store):
    """arq is at-least-once: a second run of a logged attempt sends nothing."""
    url = receiver.hook()
    endpoint = await register(api, url)
    delivery_id, _ = await stored_delivery(store, partner, endpoint["id"], "pkg:DONE", due_in_s=3600)
    settings = Settings(webhook_allow_private_targets=True)
    client = make_webhook_client(settings)
    try:
        for _ in range(2):
            assert (
                await attempt_delivery(
                    WebhookStore(store),
                    client,
                    settings,
                    partner_id=partner,
                    delivery_id=delivery_id,
                    round_=1,
                    attempt=1,
                )
                is None
            )
    finally:
        await client.aclose()
    assert len(receiver.received(url)) == 1
    [delivery] = await deliveries(api, endpoint["id"])
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 1


async def test_a_batch_settles_each_delivery_as_it_would_alone(api, partner, receiver: Receiver, store):
    """The poller's batch: deliveries to two endpoints (one deleted since), one of them
    already sent. Each gets the outcome it would get alone, and only the due one is sent."""
    live_url, gone_url = receiver.hook(), receiver.hook()
    live, gone = await register(api, live_url), await register(api, gone_url)
    due, _ = await stored_delivery(store, partner, live["id"], "pkg:1:DONE", due_in_s=3600)
    sent, _ = await stored_delivery(store, partner, live["id"], "pkg:2:DONE", due_in_s=3600)
    orphan, _ = await stored_delivery(store, partner, gone["id"], "pkg:1:DONE", due_in_s=3600)
    assert (await api.delete(f"/v1/webhooks/{gone['id']}")).status_code == 204
    settings = Settings(webhook_allow_private_targets=True)
    client = make_webhook_client(settings)
    webhooks = WebhookStore(store)
    try:
        assert (
            await attempt_delivery(
                webhooks, client, settings, partner_id=partner, delivery_id=sent, round_=1, attempt=1
            )
            is None
        )
        results = await attempt_deliveries(
            webhooks,
            client,
            settings,
            partner_id=partner,
            attempts=[(due, 1, 1), (sent, 1, 1), (orphan, 1, 1), ("no-such-delivery", 1, 1)],
        )
    finally:
        await client.aclose()
    assert results == [None, None, None, None]
    assert len(receiver.received(live_url)) == 2 and receiver.received(gone_url) == []
    stored = await webhooks.get_deliveries(partner, [due, sent, orphan])
    assert [d.status if d else None for d in stored] == ["succeeded", "succeeded", "failed"]
    assert stored[2] is not None and stored[2].failure_reason == "endpoint was deleted"
    assert [d.next_attempt if d else None for d in stored[:2]] == [2, 2]  # one attempt each

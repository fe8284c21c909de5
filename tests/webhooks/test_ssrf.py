"""SSRF: webhook URLs may only reach public addresses, checked at registration and at send time."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.kit.settings import Settings
from app.webhooks.delivery import SendResult, attempt_delivery, make_webhook_client, send
from app.webhooks.signing import new_secret
from app.webhooks.ssrf import blocked_reason, refusal, target_problem, url_problem
from app.webhooks.store import WebhookStore
from tests.support.processes import ApiServer, ManagedProcess
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import deliveries, register, stored_delivery

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "cloud metadata",
    "169.254.1.1": "link-local",
    "224.0.0.1": "multicast",
    "0.0.0.0": "unspecified",
    "240.0.0.1": "reserved",
    "100.64.0.1": "special-purpose",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd00:ec2::254": "cloud metadata",
    "ff02::1": "multicast",
    "::": "unspecified",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "cloud metadata",
    "2002:7f00:1::": "loopback",
    "64:ff9b::a00:1": "private",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2a00:1450:4001::1"]


@pytest.mark.parametrize(("address", "reason"), BLOCKED.items())
def test_non_public_addresses_are_blocked_with_their_reason(address, reason):
    assert blocked_reason(ipaddress.ip_address(address)) == reason


# Blocks of the IANA special-purpose registries that Python 3.11's is_private/is_global miss
# (or only partly cover): each was accepted as a webhook target before.
@pytest.mark.parametrize(
    "address", ["fec0::1", "feff::1", "192.0.0.8", "192.0.0.170", "192.0.0.255", "3fff::1", "5f00::1"]
)
def test_special_purpose_blocks_python_misses_are_blocked(address):
    assert blocked_reason(ipaddress.ip_address(address)) is not None


def test_a_refusal_never_names_the_address_it_resolved_to():
    message = refusal("billing.internal.example", [ipaddress.ip_address("10.0.0.5")])
    assert message is not None and "10.0.0.5" not in message and "non-public" in message


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://user:secret@93.184.216.34/hook", "credentials"),
        ("https://token@93.184.216.34/hook", "credentials"),
        ("http:///hook", "no host"),
        ("http://93.184.216.34:99999/", "malformed"),
        ("http://93.184.216.34/a b", "whitespace"),
    ],
)
def test_url_shape_problems_are_named(url, message):
    problem = url_problem(url)
    assert problem is not None and message in problem


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:8080/hook", "loopback"),
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one decimal number
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("https://10.0.0.1/hook", "private"),
    ],
)
async def test_registration_check_resolves_and_refuses_private_hosts(url, message):
    problem = await target_problem(url)
    assert problem is not None and message in problem


async def test_registration_check_accepts_a_public_address():
    assert await target_problem("https://93.184.216.34/hooks/bff") is None


async def send_once(url: str, *, allow_private_targets: bool) -> SendResult:
    """One signed attempt through the worker's webhook client, as configured."""
    client = make_webhook_client(Settings(webhook_allow_private_targets=allow_private_targets))
    try:
        return await send(
            client, url, msg_id="msg_x", body=b"{}", signing_secrets=[new_secret()], timeout_s=5
        )
    finally:
        await client.aclose()


async def test_send_time_guard_refuses_a_private_address_without_any_request(receiver: Receiver):
    url = receiver.hook()
    result = await send_once(url, allow_private_targets=False)
    assert result.refused and result.status_code is None
    assert "127.0.0.1" in (result.error or "") and "loopback" in (result.error or "")
    assert receiver.received(url) == []


async def test_send_time_guard_off_when_private_targets_are_allowed(receiver: Receiver):
    url = receiver.hook()
    result = await send_once(url, allow_private_targets=True)
    assert result.succeeded and len(receiver.received(url)) == 1


async def test_an_attempt_to_a_now_private_address_is_logged_as_refused(
    api, partner, receiver: Receiver, store
):
    """Registered while allowed (DNS may change later); the strict worker refuses at send time."""
    url = receiver.hook()
    endpoint = await register(api, url)
    delivery_id, _ = await stored_delivery(store, partner, endpoint["id"], "pkg:DONE", due_in_s=3600)
    strict = Settings(webhook_allow_private_targets=False, webhook_retry_schedule=[3600])
    client = make_webhook_client(strict)
    try:
        next_attempt = await attempt_delivery(
            WebhookStore(store),
            client,
            strict,
            partner_id=partner,
            delivery_id=delivery_id,
            round_=1,
            attempt=1,
        )
    finally:
        await client.aclose()
    assert next_attempt is not None and next_attempt.attempt == 2 and next_attempt.delay_s > 60
    [delivery] = await deliveries(api, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert attempt["outcome"] == "refused" and attempt["status_code"] is None
    assert "loopback" in attempt["error"] and "no request was made" in attempt["error"]
    assert receiver.received(url) == []


# -- through the API ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict_api_server(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    """A second API process with BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS=false, as in production."""
    api = ApiServer("api-strict", {**bff_env, "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "false"}).start()
    yield api
    api.close()


@pytest.fixture
async def strict_api(strict_api_server: ManagedProcess, auth_headers) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=strict_api_server.url,
        headers=auth_headers,
        timeout=30,
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://10.0.0.1/hook", "private"),
        ("http://[::ffff:192.168.0.1]/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://metadata.google.internal/", "cloud metadata"),
        ("http://user:pass@93.184.216.34/hook", "credentials"),
        ("gopher://93.184.216.34/", "only http and https"),
    ],
)
async def test_strict_api_refuses_private_targets_with_a_clear_422(strict_api, url, message):
    response = await strict_api.post("/v1/webhooks", json={"url": url, "event_types": ["package.done"]})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert message in problem["detail"] and problem["errors"][0]["field"] == "url"


async def test_strict_api_accepts_a_public_address_and_refuses_a_private_patch(strict_api):
    endpoint = await register(strict_api, "https://93.184.216.34/hooks/bff")
    response = await strict_api.patch(f"/v1/webhooks/{endpoint['id']}", json={"url": "http://10.1.1.1/"})
    assert response.status_code == 422 and "private" in response.json()["detail"]
    assert (await strict_api.get(f"/v1/webhooks/{endpoint['id']}")).json()["url"] == endpoint["url"]


async def test_test_suite_api_allows_loopback_receivers(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    assert endpoint["url"].startswith("http://127.0.0.1:")


async def test_credentials_are_refused_even_when_private_targets_are_allowed(api):
    response = await api.post(
        "/v1/webhooks", json={"url": "http://a:b@127.0.0.1/x", "event_types": ["package.done"]}
    )
    assert response.status_code == 422 and "credentials" in response.json()["detail"]

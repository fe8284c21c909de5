"""Edge cases of the upstream client that the simulator cannot be made to produce on cue,
against a scripted local upstream (``tests/support/upstream_double.py``) over real sockets:
what goes out is checked byte for byte, as the upstream receives it."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import aiohttp.abc
import pytest

from app.kit.links import path_segment
from app.upstream import (
    CallContext,
    PackageBuilderClient,
    UpstreamBadResponse,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.upstream.models import CreatePackagePayload, ExportPayload
from tests.support.upstream_double import UpstreamDouble, drop, reply

CTX = CallContext("Bearer caller-token", "partner-7", "req-123")
PACKAGES = "/package_builder/packages"


class FlakyResolver(aiohttp.abc.AbstractResolver):
    """Resolves every name to 127.0.0.1, after failing the first ``failures`` times: a
    connection that was never made, on cue."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        if self.failures:
            self.failures -= 1
            raise OSError(f"could not resolve {host}")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamDouble]:
    double = await UpstreamDouble().start()
    yield double
    await double.stop()


@pytest.fixture
async def client(upstream: UpstreamDouble) -> AsyncIterator[PackageBuilderClient]:
    client = PackageBuilderClient(upstream.url, upstream.url + "/integrations", retries=2)
    yield client
    await client.aclose()


def _payload() -> CreatePackagePayload:
    return CreatePackagePayload(
        num_packages=3,
        n_top_events=3,
        event_ids=[1, 2],
        package_title="t",
        targeting_mode="lookalike",
        filters={},
    )


async def test_calls_relay_caller_authorization_partner_and_request_id(client, upstream):
    upstream.on("GET", f"{PACKAGES}/", reply(200, []))
    await client.list_packages(CTX)
    [sent] = upstream.received
    assert sent.headers["authorization"] == "Bearer caller-token"
    assert sent.headers["x-preferred-partner-id"] == "partner-7"
    assert sent.headers["x-request-id"] == "req-123"
    assert "cookie" not in sent.headers


async def test_merge_sends_repeated_packages_ids_and_no_body(client, upstream):
    upstream.on("POST", f"{PACKAGES}/merge", reply(200, {"id": 9}))
    ref = await client.merge_packages(CTX, ["123", "456"])
    [sent] = upstream.received
    assert sent.target == f"{PACKAGES}/merge?packages_ids=123&packages_ids=456"
    assert sent.body == b""
    assert ref.id == "9"  # numeric ids become strings


async def test_get_retries_on_503_then_succeeds(client, upstream):
    upstream.on("GET", f"{PACKAGES}/1", reply(503), reply(502), reply(200, {"id": "1", "status": "DONE"}))
    assert (await client.get_package(CTX, "1")).status == "DONE"
    assert len(upstream.received) == 3


async def test_get_gives_up_after_bounded_retries_with_502(client, upstream):
    upstream.on("GET", f"{PACKAGES}/1", reply(503))
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.get_package(CTX, "1")
    assert caught.value.status == 502
    assert len(upstream.received) == 3  # 1 + retries=2


async def test_get_is_sent_again_after_a_failed_connect_and_a_dropped_answer(upstream):
    port = upstream.url.rsplit(":", 1)[1]
    client = PackageBuilderClient(f"http://upstream.test:{port}", "http://x.test", resolver=FlakyResolver(1))
    upstream.on("GET", f"{PACKAGES}/1", drop, reply(200, {"id": "1", "status": "DONE"}))
    try:
        assert (await client.get_package(CTX, "1")).id == "1"
    finally:
        await client.aclose()
    assert len(upstream.received) == 2  # the failed connect sent nothing


async def test_post_is_not_retried_after_a_5xx(client, upstream):
    upstream.on("POST", PACKAGES, reply(503))
    with pytest.raises(UpstreamUnavailable):
        await client.create_package(CTX, _payload())
    assert len(upstream.received) == 1


async def test_post_is_not_retried_when_the_answer_broke_off(client, upstream):
    upstream.on("POST", PACKAGES, drop, reply(200, {"id": "5"}))
    with pytest.raises(UpstreamUnavailable):
        await client.create_package(CTX, _payload())
    assert len(upstream.received) == 1


async def test_post_is_retried_when_the_connection_was_never_made(upstream):
    port = upstream.url.rsplit(":", 1)[1]
    client = PackageBuilderClient(f"http://upstream.test:{port}", "http://x.test", resolver=FlakyResolver(1))
    upstream.on("POST", PACKAGES, reply(200, {"id": "5"}))
    try:
        assert (await client.create_package(CTX, _payload())).id == "5"
    finally:
        await client.aclose()
    assert len(upstream.received) == 1


async def test_a_read_timeout_becomes_504(upstream):
    client = PackageBuilderClient(upstream.url, upstream.url, timeout_s=0.2, retries=0)
    upstream.on("GET", f"{PACKAGES}/", upstream.silent())
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.list_packages(CTX)
    finally:
        await client.aclose()
    assert caught.value.status == 504


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_4xx_keep_their_status_and_upstream_detail(client, upstream, status):
    upstream.on("GET", f"{PACKAGES}/1", reply(status, {"detail": "nope"}))
    with pytest.raises(UpstreamRejected) as caught:
        await client.get_package(CTX, "1")
    assert caught.value.status == status
    assert "nope" in caught.value.detail
    assert len(upstream.received) == 1  # a 4xx is final


async def test_429_keeps_retry_after(client, upstream):
    upstream.on("GET", f"{PACKAGES}/", reply(429, {}, headers={"Retry-After": "7"}))
    with pytest.raises(UpstreamRejected) as caught:
        await client.list_packages(CTX)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "7"


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"unexpected": true}', b"[1, 2]"])
async def test_malformed_answers_become_502(client, upstream, body):
    upstream.on("GET", f"{PACKAGES}/1", reply(200, body=body))
    with pytest.raises(UpstreamBadResponse) as caught:
        await client.get_package(CTX, "1")
    assert caught.value.status == 502


async def test_malformed_list_becomes_502(client, upstream):
    upstream.on("GET", f"{PACKAGES}/", reply(200, {"items": []}))
    with pytest.raises(UpstreamBadResponse):
        await client.list_packages(CTX)


@pytest.mark.parametrize(
    ("tc", "segment"),
    [
        ("family_outings_munich", "family_outings_munich"),
        ("AC/DC fans", "AC%2FDC%20fans"),
        ("100% locals", "100%25%20locals"),
        ("Rock & Roll", "Rock%20%26%20Roll"),
        ("a?b#c", "a%3Fb%23c"),
        ("Münchner Kindl", "M%C3%BCnchner%20Kindl"),
        ("..", "%2E%2E"),
        (".", "%2E"),
    ],
)
async def test_customer_list_encodes_tc_as_one_segment_never_slugified(client, upstream, tc, segment):
    upstream.when(lambda r: r.path.endswith("/customer_list"), reply(200, body=b"a,b\n1,2\n"))
    stream = await client.stream_customer_list(CTX, "1", tc)
    body = b"".join([chunk async for chunk in stream.chunks()])
    assert body == b"a,b\n1,2\n"
    [sent] = upstream.received
    assert sent.target == f"{PACKAGES}/1/{segment}/customer_list"
    assert path_segment(tc) == segment


async def test_customer_list_errors_before_streaming_keep_their_status(client, upstream):
    upstream.when(lambda r: r.path.endswith("/customer_list"), reply(404, {"detail": "no such cluster"}))
    with pytest.raises(UpstreamRejected) as caught:
        await client.stream_customer_list(CTX, "1", "x")
    assert caught.value.status == 404
    assert "no such cluster" in caught.value.detail


async def test_export_goes_to_the_data_integrations_layer(client, upstream):
    upstream.on("POST", "/integrations/exports", reply(202, {"id": "x1"}))
    payload = ExportPayload(
        crm_name="hubspot", secret_id="s", container_name="c", packageId="1", tc="AC/DC fans"
    )
    assert await client.create_export(CTX, payload) == {"id": "x1"}
    [sent] = upstream.received
    assert json.loads(sent.body) == {
        "crm_name": "hubspot",
        "secret_id": "s",
        "container_name": "c",
        "packageId": "1",
        "tc": "AC/DC fans",
    }
    assert sent.headers["content-type"] == "application/json"


async def test_merge_without_an_id_in_the_answer_finds_the_package_by_merge_id(client, upstream):
    upstream.on("POST", f"{PACKAGES}/merge", reply(200, body=b""))
    upstream.on(
        "GET",
        f"{PACKAGES}/",
        reply(
            200,
            [
                {"id": "7", "status": "DONE", "merge_id": None},
                {"id": "9", "status": "INITIALIZING", "merge_id": "123_456"},
            ],
        ),
    )
    assert (await client.merge_packages(CTX, ["123", "456"])).id == "9"


@pytest.mark.parametrize("body", [{"id": 42}, {"package": {"id": "42"}}, {"package_id": "42"}, 42])
async def test_create_accepts_the_shapes_close_to_the_guides_id(client, upstream, body):
    upstream.on("POST", PACKAGES, reply(201, body))
    assert (await client.create_package(CTX, _payload())).id == "42"


async def test_create_without_any_id_is_502(client, upstream):
    upstream.on("POST", PACKAGES, reply(200, {"ok": True}))
    with pytest.raises(UpstreamBadResponse):
        await client.create_package(CTX, _payload())


async def test_same_origin_redirects_are_followed(client, upstream):
    upstream.on("GET", f"{PACKAGES}/", reply(307, {}, headers={"Location": f"{upstream.url}{PACKAGES}"}))
    upstream.on("GET", PACKAGES, reply(200, [{"id": "1", "status": "DONE"}]))
    assert [p.id for p in await client.list_packages(CTX)] == ["1"]
    assert [r.headers["authorization"] for r in upstream.received] == ["Bearer caller-token"] * 2


async def test_a_redirect_to_another_origin_is_not_followed(client, upstream):
    upstream.on("GET", f"{PACKAGES}/", reply(302, {}, headers={"Location": "http://elsewhere.test/steal"}))
    with pytest.raises(UpstreamBadResponse):
        await client.list_packages(CTX)
    assert len(upstream.received) == 1

"""Edge cases of the upstream client that a real upstream cannot be made to produce on cue.

respx stands in for the network here, and only here.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from app.upstream import (
    CallContext,
    PackageBuilderClient,
    UpstreamBadResponse,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.upstream.client import path_segment
from app.upstream.models import CreatePackagePayload

BASE = "http://upstream.test"
CTX = CallContext("Bearer caller-token", "partner-7", "req-123")


@pytest.fixture
async def client():
    upstream = PackageBuilderClient(BASE, "http://integrations.test", retries=2)
    yield upstream
    await upstream.aclose()


def _payload() -> CreatePackagePayload:
    return CreatePackagePayload(
        num_packages=3,
        n_top_events=3,
        event_ids=[1, 2],
        package_title="t",
        targeting_mode="lookalike",
        filters={},
    )


@respx.mock
async def test_calls_relay_caller_authorization_partner_and_request_id(client):
    route = respx.get(f"{BASE}/package_builder/packages/").respond(json=[])
    await client.list_packages(CTX)
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer caller-token"
    assert sent.headers["x-preferred-partner-id"] == "partner-7"
    assert sent.headers["x-request-id"] == "req-123"


@respx.mock
async def test_merge_sends_repeated_packages_ids_and_no_body(client):
    route = respx.post(f"{BASE}/package_builder/packages/merge").respond(json={"id": 9})
    ref = await client.merge_packages(CTX, ["123", "456"])
    sent = route.calls.last.request
    assert sent.url.params.get_list("packages_ids") == ["123", "456"]
    assert sent.content == b""
    assert ref.id == "9"  # numeric ids become strings


@respx.mock
async def test_get_retries_on_503_then_succeeds(client):
    route = respx.get(f"{BASE}/package_builder/packages/1").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json={"id": "1", "status": "DONE"}),
        ]
    )
    package = await client.get_package(CTX, "1")
    assert package.status == "DONE"
    assert route.call_count == 3


@respx.mock
async def test_get_gives_up_after_bounded_retries_with_502(client):
    route = respx.get(f"{BASE}/package_builder/packages/1").respond(503)
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.get_package(CTX, "1")
    assert caught.value.status == 502
    assert route.call_count == 3  # 1 + retries=2


@respx.mock
async def test_get_retries_connection_errors(client):
    route = respx.get(f"{BASE}/package_builder/packages/1").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.RemoteProtocolError("server disconnected"),
            httpx.Response(200, json={"id": "1", "status": "DONE"}),
        ]
    )
    assert (await client.get_package(CTX, "1")).id == "1"
    assert route.call_count == 3


@respx.mock
async def test_post_is_not_retried_after_a_5xx(client):
    route = respx.post(f"{BASE}/package_builder/packages").respond(503)
    with pytest.raises(UpstreamUnavailable):
        await client.create_package(CTX, _payload())
    assert route.call_count == 1


@respx.mock
async def test_post_is_not_retried_when_the_answer_broke_off(client):
    route = respx.post(f"{BASE}/package_builder/packages").mock(
        side_effect=httpx.RemoteProtocolError("server disconnected")
    )
    with pytest.raises(UpstreamUnavailable):
        await client.create_package(CTX, _payload())
    assert route.call_count == 1


@respx.mock
async def test_post_is_retried_when_the_connection_was_never_made(client):
    route = respx.post(f"{BASE}/package_builder/packages").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"id": "5"})]
    )
    assert (await client.create_package(CTX, _payload())).id == "5"
    assert route.call_count == 2


@respx.mock
async def test_timeouts_become_504(client):
    respx.get(f"{BASE}/package_builder/packages/").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout) as caught:
        await client.list_packages(CTX)
    assert caught.value.status == 504


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
@respx.mock
async def test_4xx_keep_their_status_and_upstream_detail(client, status):
    route = respx.get(f"{BASE}/package_builder/packages/1").respond(status, json={"detail": "nope"})
    with pytest.raises(UpstreamRejected) as caught:
        await client.get_package(CTX, "1")
    assert caught.value.status == status
    assert "nope" in caught.value.detail
    assert route.call_count == 1  # a 4xx is final


@respx.mock
async def test_429_keeps_retry_after(client):
    respx.get(f"{BASE}/package_builder/packages/").respond(429, headers={"Retry-After": "7"})
    with pytest.raises(UpstreamRejected) as caught:
        await client.list_packages(CTX)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "7"


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"unexpected": true}', b"[1, 2]"])
@respx.mock
async def test_malformed_answers_become_502(client, body):
    respx.get(f"{BASE}/package_builder/packages/1").respond(200, content=body)
    with pytest.raises(UpstreamBadResponse) as caught:
        await client.get_package(CTX, "1")
    assert caught.value.status == 502


@respx.mock
async def test_malformed_list_becomes_502(client):
    respx.get(f"{BASE}/package_builder/packages/").respond(200, json={"items": []})
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
    ],
)
@respx.mock
async def test_customer_list_encodes_tc_as_one_segment_never_slugified(client, tc, segment):
    route = respx.get(url__regex=r".*/customer_list$").respond(200, content=b"a,b\n1,2\n")
    stream = await client.stream_customer_list(CTX, "1", tc)
    body = b"".join([chunk async for chunk in stream.chunks()])
    assert body == b"a,b\n1,2\n"
    raw_path = route.calls.last.request.url.raw_path.decode()
    assert raw_path == f"/package_builder/packages/1/{segment}/customer_list"
    assert path_segment(tc) == segment


@respx.mock
async def test_customer_list_errors_before_streaming_keep_their_status(client):
    respx.get(url__regex=r".*/customer_list$").respond(404, json={"detail": "no such cluster"})
    with pytest.raises(UpstreamRejected) as caught:
        await client.stream_customer_list(CTX, "1", "x")
    assert caught.value.status == 404


@respx.mock
async def test_export_goes_to_the_data_integrations_layer(client):
    route = respx.post("http://integrations.test/exports").respond(202, json={"id": "x1"})
    from app.upstream.models import ExportPayload

    answer = await client.create_export(
        CTX,
        ExportPayload(crm_name="hubspot", secret_id="s", container_name="c", packageId="1", tc="AC/DC fans"),
    )
    assert answer == {"id": "x1"}
    import json

    assert json.loads(route.calls.last.request.content) == {
        "crm_name": "hubspot",
        "secret_id": "s",
        "container_name": "c",
        "packageId": "1",
        "tc": "AC/DC fans",
    }


@respx.mock
async def test_merge_without_an_id_in_the_answer_finds_the_package_by_merge_id(client):
    respx.post(f"{BASE}/package_builder/packages/merge").respond(200, content=b"")
    respx.get(f"{BASE}/package_builder/packages/").respond(
        json=[
            {"id": "7", "status": "DONE", "merge_id": None},
            {"id": "9", "status": "INITIALIZING", "merge_id": "123_456"},
        ]
    )
    assert (await client.merge_packages(CTX, ["123", "456"])).id == "9"


@pytest.mark.parametrize("body", [{"id": 42}, {"package": {"id": "42"}}, {"package_id": "42"}, 42])
@respx.mock
async def test_create_accepts_the_shapes_close_to_the_guides_id(client, body):
    respx.post(f"{BASE}/package_builder/packages").respond(201, json=body)
    assert (await client.create_package(CTX, _payload())).id == "42"


@respx.mock
async def test_create_without_any_id_is_502(client):
    respx.post(f"{BASE}/package_builder/packages").respond(200, json={"ok": True})
    with pytest.raises(UpstreamBadResponse):
        await client.create_package(CTX, _payload())


@respx.mock
async def test_same_origin_redirects_are_followed(client):
    respx.get(f"{BASE}/package_builder/packages/").respond(
        307, headers={"Location": f"{BASE}/package_builder/packages"}
    )
    respx.get(f"{BASE}/package_builder/packages").respond(json=[{"id": "1", "status": "DONE"}])
    assert [p.id for p in await client.list_packages(CTX)] == ["1"]

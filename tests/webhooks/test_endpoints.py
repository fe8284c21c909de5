"""The endpoint registry: CRUD, secrets shown once, rotation, limits, partner scoping."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from app.webhooks.service import MAX_ENDPOINTS_PER_PARTNER
from tests.conftest import make_token
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import register


@pytest.fixture
async def other_partner(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The same API, acting for another partner."""
    headers = {
        "Authorization": f"Bearer {make_token(partners=['*'])}",
        "X-Preferred-Partner-Id": "another-partner",
    }
    async with httpx.AsyncClient(base_url=api.base_url, headers=headers, timeout=30) as client:
        yield client


async def test_create_returns_the_endpoint_with_its_secret_once(api, receiver: Receiver):
    url = receiver.hook()
    response = await api.post(
        "/v1/webhooks",
        json={
            "url": url,
            "event_types": ["package.done", "package.done", "package.expired"],
            "description": "CRM sync",
        },
    )
    assert response.status_code == 201, response.text
    endpoint = response.json()
    assert endpoint["id"].startswith("ep_")
    assert response.headers["location"] == f"/v1/webhooks/{endpoint['id']}"
    assert endpoint["url"] == url and endpoint["description"] == "CRM sync" and endpoint["enabled"]
    assert endpoint["event_types"] == ["package.done", "package.expired"]
    assert endpoint["secret"].startswith("whsec_")
    assert len(base64.b64decode(endpoint["secret"].removeprefix("whsec_"))) >= 24
    shown = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    listed = (await api.get("/v1/webhooks")).json()["items"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert [item["id"] for item in listed] == [endpoint["id"]]
    assert endpoint["secret"] not in (await api.get("/v1/webhooks")).text


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1/x", "event_types": []},
        {"url": "http://127.0.0.1/x", "event_types": ["package.started"]},
        {"url": "http://127.0.0.1/x"},
        {"event_types": ["package.done"]},
        {"url": "http://127.0.0.1/x", "event_types": ["package.done"], "secret": "whsec_mine"},
        {"url": "ftp://127.0.0.1/x", "event_types": ["package.done"]},
        {"url": "http://127.0.0.1/x", "event_types": ["package.done"], "description": "x" * 501},
    ],
)
async def test_invalid_registrations_are_422_problems(api, body):
    response = await api.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


async def test_patch_changes_only_the_given_fields(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook(), description="first")
    new_url = receiver.hook()
    response = await api.patch(
        f"/v1/webhooks/{endpoint['id']}", json={"url": new_url, "event_types": ["package.failed"]}
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["url"] == new_url and patched["event_types"] == ["package.failed"]
    assert patched["description"] == "first" and patched["enabled"]
    cleared = (await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"description": None})).json()
    assert cleared["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"url": None},
        {"event_types": []},
        {"enabled": None},
        {"secret": "x"},
        {"url": "http://a:b@127.0.0.1/"},
    ],
)
async def test_invalid_patches_are_422(api, receiver: Receiver, body):
    endpoint = await register(api, receiver.hook())
    response = await api.patch(f"/v1/webhooks/{endpoint['id']}", json=body)
    assert response.status_code == 422, response.text


async def test_disable_and_re_enable_by_patch(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    disabled = (await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": False})).json()
    assert not disabled["enabled"] and disabled["disabled_reason"] and disabled["disabled_at"]
    assert (await api.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 409
    enabled = (await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": True})).json()
    assert enabled["enabled"] and enabled["disabled_reason"] is None and enabled["failing_since"] is None


async def test_delete_removes_the_endpoint(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    assert (await api.delete(f"/v1/webhooks/{endpoint['id']}")).status_code == 204
    assert (await api.get(f"/v1/webhooks/{endpoint['id']}")).status_code == 404
    assert (await api.delete(f"/v1/webhooks/{endpoint['id']}")).status_code == 404
    assert (await api.get("/v1/webhooks")).json()["items"] == []


async def test_rotate_secret_returns_a_new_secret_and_the_overlap(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    response = await api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    assert "secret" not in (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()


@pytest.mark.parametrize("endpoint_id", ["ep_" + "0" * 32, "nope", "ep_../../x", "EP_" + "A" * 32])
async def test_unknown_endpoints_are_404(api, endpoint_id):
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/deliveries"),
    ]:
        json: dict[str, str] | None = {} if method == "PATCH" else None
        response = await api.request(method, f"/v1/webhooks/{endpoint_id}{path}", json=json)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_another_partners_endpoint_is_404_everywhere(api, other_partner, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    base = f"/v1/webhooks/{endpoint['id']}"
    delivery_id = (await api.post(f"{base}/test")).json()["id"]
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/deliveries"),
        ("POST", f"/deliveries/{delivery_id}/redeliver"),
    ]:
        json = {"enabled": False} if method == "PATCH" else None
        response = await other_partner.request(method, base + path, json=json)
        assert response.status_code == 404, (method, path, response.text)
    assert endpoint["id"] not in (await other_partner.get("/v1/webhooks")).text
    assert (await api.get(base)).json()["enabled"]


async def test_a_partner_has_a_bounded_number_of_endpoints(api, receiver: Receiver):
    url = receiver.hook()
    for _ in range(MAX_ENDPOINTS_PER_PARTNER):
        await register(api, url)
    response = await api.post("/v1/webhooks", json={"url": url, "event_types": ["package.done"]})
    assert response.status_code == 409 and str(MAX_ENDPOINTS_PER_PARTNER) in response.json()["detail"]
    assert len((await api.get("/v1/webhooks")).json()["items"]) == MAX_ENDPOINTS_PER_PARTNER


async def test_webhooks_need_a_valid_caller(anonymous):
    assert (await anonymous.get("/v1/webhooks")).status_code == 401

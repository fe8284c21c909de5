"""Wizard drafts over the real API and Redis: ETag/If-Match, scoping, expiry, size, listing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from app.drafts import keys as draft_keys
from app.kit.settings import Settings
from tests.conftest import make_token

STATE = {"title": "Munich shows Q3", "event_ids": [12345, 23456]}
DEFAULTS = Settings()  # the API runs with the default draft TTL and size bound


@pytest.fixture
async def colleague(api_server, partner) -> AsyncIterator[httpx.AsyncClient]:
    """Another user (token sub) of the same partner."""
    headers = {
        "Authorization": f"Bearer {make_token(sub='user-2', partners=[partner])}",
        "X-Preferred-Partner-Id": partner,
    }
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers, timeout=30) as client:
        yield client


async def create(api: httpx.AsyncClient, **body) -> tuple[dict, str]:
    response = await api.post("/v1/drafts", json=body or {"step": "events", "state": STATE})
    assert response.status_code == 201, response.text
    return response.json(), response.headers["ETag"]


async def test_create_answers_201_with_location_etag_and_the_draft(api):
    response = await api.post("/v1/drafts", json={"step": "targeting", "state": STATE})
    assert response.status_code == 201
    draft = response.json()
    assert response.headers["Location"] == f"/v1/drafts/{draft['id']}"
    assert response.headers["ETag"] == '"v1"'
    assert draft["step"] == "targeting" and draft["state"] == STATE and draft["version"] == 1
    assert draft["package_id"] is None and len(draft["id"]) == 32


async def test_read_returns_the_etag_and_if_none_match_gives_304(api):
    draft, tag = await create(api)
    response = await api.get(f"/v1/drafts/{draft['id']}")
    assert response.status_code == 200 and response.headers["ETag"] == tag
    assert response.json()["state"] == STATE
    cached = await api.get(f"/v1/drafts/{draft['id']}", headers={"If-None-Match": tag})
    assert cached.status_code == 304 and cached.headers["ETag"] == tag


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_writes_without_if_match_are_428(api, method):
    draft, _ = await create(api)
    body = {"step": "preview", "state": {}} if method != "DELETE" else None
    response = await api.request(method, f"/v1/drafts/{draft['id']}", json=body)
    assert response.status_code == 428
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "If-Match" in response.json()["detail"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_writes_with_a_stale_etag_are_412_and_change_nothing(api, method):
    draft, first = await create(api)
    url = f"/v1/drafts/{draft['id']}"
    changed = await api.patch(url, json={"step": "targeting"}, headers={"If-Match": first})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"v2"'
    body = {"step": "preview", "state": {}} if method != "DELETE" else None
    response = await api.request(method, url, json=body, headers={"If-Match": first})
    assert response.status_code == 412
    after = await api.get(url)
    assert after.json()["step"] == "targeting" and after.headers["ETag"] == '"v2"'


async def test_put_with_the_current_etag_replaces_and_bumps_the_etag(api):
    draft, tag = await create(api)
    new_state = {"title": "Renamed", "targeting_mode": "lookalike"}
    response = await api.put(
        f"/v1/drafts/{draft['id']}", headers={"If-Match": tag}, json={"step": "targeting", "state": new_state}
    )
    assert response.status_code == 200
    assert response.headers["ETag"] == '"v2"'
    assert response.json()["state"] == new_state and response.json()["version"] == 2


async def test_patch_is_a_json_merge_patch_of_the_state(api):
    state = {
        "title": "T",
        "event_ids": [1],
        "filters": {"exclude_ticket_categories": ["VIP"], "included_customers": [5]},
    }
    draft, tag = await create(api, step="events", state=state)
    patch = {
        "step": "targeting",
        "state": {
            "title": None,
            "targeting_mode": "lookalike",
            "filters": {"included_customers": None, "excluded_customers": [7]},
        },
    }
    response = await api.patch(
        f"/v1/drafts/{draft['id']}",
        json=patch,
        headers={"If-Match": tag, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["step"] == "targeting"
    assert response.json()["state"] == {
        "event_ids": [1],
        "targeting_mode": "lookalike",
        "filters": {"exclude_ticket_categories": ["VIP"], "excluded_customers": [7]},
    }


async def test_if_match_star_and_lists_match_but_weak_tags_never_do(api):
    draft, tag = await create(api)
    url = f"/v1/drafts/{draft['id']}"
    weak = await api.patch(url, json={"step": "preview"}, headers={"If-Match": f"W/{tag}"})
    assert weak.status_code == 412
    listed = await api.patch(url, json={"step": "preview"}, headers={"If-Match": f'"v9", {tag}'})
    assert listed.status_code == 200
    star = await api.patch(url, json={"step": "events"}, headers={"If-Match": "*"})
    assert star.status_code == 200 and star.json()["version"] == 3


async def test_malformed_if_match_is_400(api):
    draft, _ = await create(api)
    response = await api.patch(
        f"/v1/drafts/{draft['id']}", json={"step": "preview"}, headers={"If-Match": "v1"}
    )
    assert response.status_code == 400


async def test_two_writers_with_the_same_etag_cannot_both_win(api):
    draft, tag = await create(api)
    url = f"/v1/drafts/{draft['id']}"

    async def write(n: int) -> httpx.Response:
        return await api.put(
            url, headers={"If-Match": tag}, json={"step": "targeting", "state": {"title": f"tab {n}"}}
        )

    responses = await asyncio.gather(*(write(n) for n in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 11
    winner = next(r for r in responses if r.status_code == 200).json()
    final = (await api.get(url)).json()
    assert final["state"] == winner["state"] and final["version"] == 2


async def test_delete_removes_the_draft_and_its_list_entry(api):
    draft, tag = await create(api)
    url = f"/v1/drafts/{draft['id']}"
    assert (await api.delete(url, headers={"If-Match": tag})).status_code == 204
    assert (await api.get(url)).status_code == 404
    assert (await api.get("/v1/drafts")).json()["items"] == []


async def test_another_users_drafts_are_404_to_every_method(api, colleague):
    draft, tag = await create(api)
    url = f"/v1/drafts/{draft['id']}"
    assert (await colleague.get(url)).status_code == 404
    assert (
        await colleague.put(url, headers={"If-Match": tag}, json={"step": "events", "state": {}})
    ).status_code == 404
    assert (
        await colleague.patch(url, headers={"If-Match": tag}, json={"step": "preview"})
    ).status_code == 404
    assert (await colleague.delete(url, headers={"If-Match": tag})).status_code == 404
    assert (await colleague.post(f"{url}/submit")).status_code == 404
    assert (await colleague.get("/v1/drafts")).json()["items"] == []
    assert (await api.get(url)).json()["version"] == 1


async def test_another_partners_drafts_are_404_even_for_the_same_user(api, api_server, partner):
    draft, _ = await create(api)
    other = partner + "-other"
    headers = {
        "Authorization": f"Bearer {make_token(partners=[partner, other])}",
        "X-Preferred-Partner-Id": other,
    }
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers) as client:
        assert (await client.get(f"/v1/drafts/{draft['id']}")).status_code == 404
        assert (await client.get("/v1/drafts")).json()["items"] == []


async def test_list_is_the_callers_drafts_most_recently_changed_first(api):
    first, first_tag = await create(api)
    second, _ = await create(api)
    third, _ = await create(api)
    ids = [d["id"] for d in (await api.get("/v1/drafts")).json()["items"]]
    assert ids == [third["id"], second["id"], first["id"]]
    await api.patch(f"/v1/drafts/{first['id']}", json={"step": "preview"}, headers={"If-Match": first_tag})
    ids = [d["id"] for d in (await api.get("/v1/drafts", params={"limit": 2})).json()["items"]]
    assert ids == [first["id"], third["id"]]


async def test_every_use_restarts_the_expiry(api, redis, partner):
    """Checks storage: the sliding TTL of the draft and its index is the contract."""
    draft, _ = await create(api)
    key = draft_keys.draft(partner, "user-1", draft["id"])
    ttl = await redis.ttl(key)
    assert DEFAULTS.draft_ttl_s - 60 <= ttl <= DEFAULTS.draft_ttl_s
    await redis.expire(key, 100)
    await api.get(f"/v1/drafts/{draft['id']}")
    assert await redis.ttl(key) > DEFAULTS.draft_ttl_s - 60
    await redis.expire(key, 100)
    await api.get("/v1/drafts")
    assert await redis.ttl(key) > DEFAULTS.draft_ttl_s - 60
    assert await redis.ttl(draft_keys.draft_index(partner, "user-1")) > DEFAULTS.draft_ttl_s - 60


async def test_an_expired_draft_is_gone_and_leaves_the_list(api, redis, partner):
    """Checks storage: Redis expires the draft (hurried here), and its index entry goes too."""
    kept, _ = await create(api)
    expiring, _ = await create(api)
    await redis.pexpire(draft_keys.draft(partner, "user-1", expiring["id"]), 1)
    deadline = time.monotonic() + 5
    while await redis.exists(draft_keys.draft(partner, "user-1", expiring["id"])):
        assert time.monotonic() < deadline, "Redis did not expire the draft"
        await asyncio.sleep(0.01)
    assert (await api.get(f"/v1/drafts/{expiring['id']}")).status_code == 404
    assert [d["id"] for d in (await api.get("/v1/drafts")).json()["items"]] == [kept["id"]]
    assert await redis.zrange(draft_keys.draft_index(partner, "user-1"), 0, -1) == [kept["id"]]


async def test_a_draft_past_the_size_bound_is_413(api):
    big = {"notes": "x" * (DEFAULTS.draft_max_bytes + 1)}
    response = await api.post("/v1/drafts", json={"step": "events", "state": big})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    draft, tag = await create(api, step="events", state={"a": "x" * (DEFAULTS.draft_max_bytes // 2)})
    grown = await api.patch(
        f"/v1/drafts/{draft['id']}",
        headers={"If-Match": tag},
        json={"state": {"b": "y" * (DEFAULTS.draft_max_bytes // 2 + 10)}},
    )
    assert grown.status_code == 413
    assert (await api.get(f"/v1/drafts/{draft['id']}")).json()["version"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"step": "checkout", "state": {}},
        {"step": "events", "state": ["not", "an", "object"]},
        {"step": "events", "state": {}, "extra": True},
    ],
)
async def test_bad_draft_bodies_are_422(api, body):
    response = await api.post("/v1/drafts", json=body)
    assert response.status_code == 422 and response.json()["errors"]


async def test_patch_cannot_remove_the_step(api):
    draft, tag = await create(api)
    response = await api.patch(f"/v1/drafts/{draft['id']}", json={"step": None}, headers={"If-Match": tag})
    assert response.status_code == 422


async def test_unknown_draft_is_404(api):
    assert (await api.get("/v1/drafts/" + "0" * 32)).status_code == 404
    response = await api.patch("/v1/drafts/nope", json={}, headers={"If-Match": "*"})
    assert response.status_code == 404

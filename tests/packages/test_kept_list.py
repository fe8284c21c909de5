"""The list the BFF keeps per partner, over the real API, Redis and the simulator: its own
writes at once, the upstream's within seconds, stable cursors, one list call per interval,
partners apart, and the kept rows served with their ``Age`` while the upstream fails."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.kit.keyspace import PREFIX, partner_part
from app.kit.settings import Settings
from app.listing import keys as listing_keys
from tests.conftest import make_token
from tests.support.sim import add_fault, force_status, make_package, upstream_calls

REFRESH_S = Settings().list_refresh_s  # the suite runs with the default
CREATE = {"title": "Own package", "event_ids": [12345], "targeting_mode": "lookalike"}


async def listed(client: httpx.AsyncClient, **params: Any) -> tuple[list[str], httpx.Response]:
    response = await client.get("/v1/packages", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]], response


async def within(seconds: float, condition: Callable[[], Awaitable[bool]], what: str) -> float:
    """Await ``condition`` (checked every 0.1 s) for at most ``seconds``; the time it took."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_the_bffs_own_create_merge_and_regenerate_are_listed_at_once(api, sim, partner):
    a = await make_package(sim, partner, "DONE")
    b = await make_package(sim, partner, "DONE")
    expired = await make_package(sim, partner, "EXPIRED")
    await listed(api)  # the list is kept from here on
    created = (await api.post("/v1/packages", json=CREATE)).json()["id"]
    ids, _ = await listed(api, limit=1)
    assert ids == [created], "the new package heads the first page, no refresh needed"
    merged = (await api.post("/v1/packages/merge", json={"package_ids": [a["id"], b["id"]]})).json()["id"]
    body = (await api.get("/v1/packages", params={"limit": 1})).json()
    assert [item["id"] for item in body["items"]] == [merged]
    assert body["items"][0]["merged_from"] == [a["id"], b["id"]]
    assert (await api.post(f"/v1/packages/{expired['id']}/regenerate")).status_code == 202
    rows = {item["id"]: item for item in (await api.get("/v1/packages")).json()["items"]}
    assert rows[expired["id"]]["status"] == "INITIALIZING"
    assert (await upstream_calls(sim, partner))["list_packages"] == 1


async def test_a_package_created_upstream_is_listed_within_5_s(api, sim, partner):
    await make_package(sim, partner, "DONE")
    await listed(api)
    elsewhere = await make_package(sim, partner, "INPROGRESS", title="made in another tool")

    async def shown() -> bool:
        return elsewhere["id"] in (await listed(api, limit=5))[0]

    await within(5, shown, "a package created upstream listed")


async def test_a_status_changed_upstream_is_listed_within_5_s(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    await listed(api)
    await force_status(sim, package["id"], "EXPIRED")

    async def shown() -> bool:
        return package["id"] in (await listed(api, status="EXPIRED"))[0]

    await within(5, shown, "an upstream status change listed")
    assert package["id"] not in (await listed(api, status="DONE"))[0]


async def test_a_cursor_walk_while_packages_arrive_skips_and_repeats_no_row(api, sim, partner):
    """Rows sort by (created time, id): the simulator's times have whole seconds, so most of
    these tie and the ids decide. New packages (upstream and the BFF's own) arrive between
    pages, and the walk waits for a refresh to list them before it goes on."""
    for _ in range(12):
        await make_package(sim, partner, "DONE")
    existing, _ = await listed(api, limit=200)  # and the simulator's seed packages
    seen, arrived = [], []
    ids, response = await listed(api, limit=4)
    while True:
        seen += ids
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        upstream = (await make_package(sim, partner, "INPROGRESS"))["id"]
        arrived += [upstream, (await api.post("/v1/packages", json=CREATE)).json()["id"]]

        async def refreshed(upstream: str = upstream) -> bool:
            return upstream in (await listed(api, limit=3))[0]

        await within(5, refreshed, "the new upstream package listed")
        ids, response = await listed(api, limit=4, cursor=cursor)
    assert len(seen) == len(set(seen)), "no row twice"
    assert seen == existing, "every row once, in order, and none newer than the walk's start"
    assert set(arrived) <= set((await listed(api, limit=200))[0])


async def test_one_partners_rows_never_reach_another(api, api_server, sim, partner):
    other = partner + "-b"
    mine = await make_package(sim, partner, "DONE", title="Zanzibar nights")
    theirs = await make_package(sim, other, "DONE", title="Zanzibar nights")
    headers = {
        "Authorization": f"Bearer {make_token(partners=[partner, other])}",
        "X-Preferred-Partner-Id": other,
    }
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers, timeout=30) as them:
        my_ids, their_ids = (await listed(api, limit=200))[0], (await listed(them, limit=200))[0]
        assert mine["id"] in my_ids and theirs["id"] in their_ids
        assert not set(my_ids) & set(their_ids)
        created = (await api.post("/v1/packages", json=CREATE)).json()["id"]
        assert created in (await listed(api, limit=1))[0]
        assert created not in (await listed(them, limit=200))[0]
        assert (await listed(them, q="zanzibar"))[0] == [theirs["id"]]
        assert (await listed(api, q="zanzibar"))[0] == [mine["id"]]
        assert (await them.get(f"/v1/packages/{mine['id']}")).status_code == 404


async def test_readers_on_two_replicas_make_one_list_call_per_interval(api, replica, sim, partner):
    for _ in range(3):
        await make_package(sim, partner, "DONE")
    await listed(api)
    before = (await upstream_calls(sim, partner))["list_packages"]
    started = time.monotonic()
    while time.monotonic() - started < 3 * REFRESH_S:
        await asyncio.gather(*(listed(client, limit=2) for client in (api, replica) * 4))
    elapsed = time.monotonic() - started
    calls = (await upstream_calls(sim, partner))["list_packages"] - before
    assert 1 <= calls <= elapsed / REFRESH_S + 1


async def test_a_refresh_never_holds_up_a_reader(api, sim, partner):
    await make_package(sim, partner, "DONE")
    await listed(api)
    await add_fault(sim, "list_packages", partner, mode="delay", latency_ms=1500)
    started, slowest = time.monotonic(), 0.0
    while time.monotonic() - started < 2 * REFRESH_S + 1.5:
        asked = time.monotonic()
        await listed(api)
        slowest = max(slowest, time.monotonic() - asked)
    assert slowest < 1.0, "readers were answered from the kept rows while the slow refresh ran"
    assert (await upstream_calls(sim, partner))["list_packages"] >= 2


async def test_the_kept_list_is_served_with_its_age_while_the_upstream_answers_503(api, sim, partner):
    for _ in range(3):
        await make_package(sim, partner, "DONE")
    ids, fresh = await listed(api)
    packages = set(ids)
    assert len(packages) >= 3 and int(fresh.headers["age"]) <= 1
    await add_fault(sim, "list_packages", partner, status=503)
    before = (await upstream_calls(sim, partner))["list_packages"]
    started = time.monotonic()

    async def aged() -> bool:
        ids, response = await listed(api)
        assert set(ids) == packages, "the kept rows, not a 502"
        return int(response.headers["age"]) >= 2 * REFRESH_S + 1

    await within(3 * REFRESH_S + 5, aged, "the kept list served with a growing Age")
    failing = (await upstream_calls(sim, partner))["list_packages"] - before
    tries = Settings(upstream_retries=1).upstream_retries + 1  # the suite's BFF_UPSTREAM_RETRIES
    assert failing <= ((time.monotonic() - started) / REFRESH_S + 1) * tries, "one list call per interval"
    await sim.delete("/_sim/faults")

    async def recovered() -> bool:
        return int((await listed(api))[1].headers["age"]) < REFRESH_S

    await within(3 * REFRESH_S, recovered, "a fresh list once the upstream answers")


async def age_kept_list(redis, partner: str, seconds: float) -> None:
    """Make the partner's kept rows look ``seconds`` old, with no refresh claimed since
    (writes storage: the age is what the refresh decisions read)."""
    now_s, micros = await redis.time()
    read_ms = int(now_s) * 1000 + int(micros) // 1000 - int(seconds * 1000)
    await redis.hset(listing_keys.list_meta(partner), mapping={"at": read_ms, "next": 0})


async def test_a_list_nobody_read_for_a_while_is_refreshed_before_it_is_served(api, sim, partner, redis):
    await listed(api)
    await age_kept_list(redis, partner, Settings().list_stale_while_revalidate_s + 5)
    elsewhere = await make_package(sim, partner, "DONE")
    ids, response = await listed(api)
    assert elsewhere["id"] in ids and int(response.headers["age"]) < REFRESH_S


async def test_a_list_nobody_read_for_a_while_is_served_with_its_age_when_the_upstream_fails(
    api, sim, partner, redis
):
    kept, _ = await listed(api)
    old = Settings().list_stale_while_revalidate_s + 5
    await age_kept_list(redis, partner, old)
    await add_fault(sim, "list_packages", partner, status=503)
    ids, response = await listed(api)
    assert ids == kept and int(response.headers["age"]) >= old


async def test_a_list_older_than_stale_if_error_is_not_served(api, sim, partner, redis):
    await make_package(sim, partner, "DONE")
    await listed(api)
    await age_kept_list(redis, partner, Settings().list_stale_if_error_s + 60)
    await add_fault(sim, "list_packages", partner, status=503)
    response = await api.get("/v1/packages")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_partner_nobody_reads_expires(api, sim, partner, redis):
    """Checks storage: every key of the kept list has the TTL, and that is the contract."""
    await make_package(sim, partner, "DONE")
    await listed(api)
    keys = [k async for k in redis.scan_iter(f"{PREFIX}:list:{partner_part(partner)}:*")]
    assert listing_keys.list_rows(partner) in keys and listing_keys.list_order(partner) in keys
    for key in keys:
        assert 0 < await redis.ttl(key) <= Settings().list_ttl_s, key


async def test_a_cursor_whose_key_cannot_be_stored_is_refused_like_any_forged_one(api):
    raw = json.dumps([1.0, "\ud800"]).encode()  # a lone surrogate, escaped as JSON allows
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await api.get("/v1/packages", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("stamp", [1e308, -1e308, 1e16])
async def test_a_cursor_with_an_absurd_number_is_a_422_not_a_500(api, stamp):
    raw = json.dumps([stamp, "pkg_1"]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await api.get("/v1/packages", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_every_next_cursor_is_accepted_back_whatever_ids_the_upstream_sends(api, sim, partner):
    """Ids no request could name (too long, not ASCII) are left out of the list: a page
    never ends on a row the API cannot cursor past."""
    odd_ids = ["x" * 300, "é" * 200, "has space", "-leading-dash"]
    rows = [
        {"id": package_id, "title": "T", "status": "DONE", "created_at": f"2026-01-0{n + 1}T00:00:00Z"}
        for n, package_id in enumerate(["ok_1", *odd_ids, "ok_2"])
    ]
    await add_fault(sim, "list_packages", partner, mode="malformed", body=json.dumps(rows))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        ids, response = await listed(api, **params)
        seen += ids
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        params["cursor"] = cursor
    assert seen == ["ok_2", "ok_1"]

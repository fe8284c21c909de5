"""Demo accounts (BFF_DEMO_PARTNER_IDS) are served from shipped fixtures, never upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import make_token
from tests.support.processes import ApiServer
from tests.support.sim import upstream_calls
from tests.support.watches import watched

DEMO = "demo-acme"


@pytest.fixture(scope="module")
def demo_api(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    api = ApiServer("api-demo", {**bff_env, "BFF_DEMO_PARTNER_IDS": f"{DEMO},other-demo"}).start()
    yield api
    api.close()


@pytest.fixture
async def demo(demo_api) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {make_token(partners=[DEMO])}", "X-Preferred-Partner-Id": DEMO}
    async with httpx.AsyncClient(base_url=demo_api.url, headers=headers) as client:
        yield client


async def test_demo_partner_reads_come_from_fixtures_without_upstream_calls(demo, sim):
    listing = (await demo.get("/v1/packages")).json()["items"]
    assert {item["id"] for item in listing} >= {"demo_101", "demo_103", "demo_104"}
    merged = next(item for item in listing if item["id"] == "demo_103")
    assert merged["merged_from"] == ["demo_101", "demo_102"]
    view = (await demo.get("/v1/packages/demo_101")).json()
    assert view["status"] == "DONE" and len(view["clusters"]) == 3
    assert all(cluster["evaluation"] for cluster in view["clusters"])
    csv = await demo.get(httpx.URL(view["clusters"][2]["csv_url"]).raw_path.decode())
    assert csv.status_code == 200
    assert csv.text.count("\n") == view["clusters"][2]["customers"] + 1
    assert (await demo.get("/v1/packages/demo_104")).json()["actions"]["can_regenerate"] is True
    assert (await demo.get("/v1/packages/nope")).status_code == 404
    assert await upstream_calls(sim, DEMO) == {}


async def test_demo_partner_writes_are_refused_clearly(demo):
    create = await demo.post(
        "/v1/packages", json={"title": "x", "event_ids": [1], "targeting_mode": "lookalike"}
    )
    assert create.status_code == 403
    assert "demo" in create.json()["detail"]
    regenerate = await demo.post("/v1/packages/demo_104/regenerate")
    assert regenerate.status_code == 403


async def test_other_partners_on_the_same_api_still_reach_the_upstream(demo_api, sim, partner):
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    async with httpx.AsyncClient(base_url=demo_api.url, headers=headers) as client:
        assert (await client.get("/v1/packages")).status_code == 200
    assert (await upstream_calls(sim, partner))["list_packages"] == 1


async def test_demo_builds_are_not_watched(demo, redis):
    listing = (await demo.get("/v1/packages")).json()["items"]
    assert any(item["status"] == "INPROGRESS" for item in listing)
    assert await watched(redis, DEMO) == []

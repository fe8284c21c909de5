"""Event search and NLQ proxies."""

from __future__ import annotations

from tests.support.sim import upstream_calls


async def test_event_search_passes_search_page_and_since(api, sim, partner):
    response = await api.get("/v1/events", params={"search": "munich", "page": 1, "since": "2020-01-01"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"], body
    assert all("munich" in (e["title"] + e["venue"]).lower() for e in body["results"])
    assert all(e["date"] >= "2020-01-01" for e in body["results"])
    assert (await upstream_calls(sim, partner))["search_events"] == 1


async def test_event_search_pages_differ(api):
    first = (await api.get("/v1/events", params={"page": 1})).json()
    second = (await api.get("/v1/events", params={"page": 2})).json()
    assert first["results"] and second["results"]
    assert {e["id"] for e in first["results"]}.isdisjoint({e["id"] for e in second["results"]})


async def test_customer_resolution_returns_ids(api):
    response = await api.get(
        "/v1/customers/resolve",
        params={
            "description": "families in Munich who bought twice",
            "result_type": "customer_ids",
            "language": "en",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["ids"]


async def test_customer_resolution_needs_a_description(api):
    response = await api.get("/v1/customers/resolve", params={"description": ""})
    assert response.status_code == 422

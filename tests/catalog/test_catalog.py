"""Event search and NLQ proxies."""

from __future__ import annotations

import json

import pytest

from tests.support.sim import add_fault, upstream_calls


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


async def test_event_search_relays_the_upstreams_other_members(api):
    body = (await api.get("/v1/events", params={"search": "munich"})).json()
    assert {"page", "total", "has_more"} <= set(body)
    assert {"id", "title", "date", "venue"} <= set(body["results"][0])


async def test_a_bare_list_of_events_is_taken_as_the_results(api, sim, partner):
    events = [{"id": 7, "title": "Seven", "genre": "jazz"}]
    await add_fault(sim, "search_events", partner, mode="malformed", body=json.dumps(events))
    response = await api.get("/v1/events", params={"search": "seven"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "results": [{"id": 7, "title": "Seven", "date": None, "venue": None, "genre": "jazz"}]
    }


@pytest.mark.parametrize(
    ("route", "path", "answer", "relayed"),
    [
        (
            "search_events",
            "/v1/events",
            {"events": [{"id": 7}], "page": 2},
            {"results": [{"id": 7, "title": None, "date": None, "venue": None}], "page": 2},
        ),
        ("nlq_ids", "/v1/customers/resolve?description=fans", {"customers": ["c1"]}, {"ids": ["c1"]}),
        (
            "search_events",
            "/v1/events",
            [{"id": 8, "title": "Eight", "venue": {"name": "Olympiahalle"}, "date": 20260702}],
            {"results": [{"id": 8, "title": "Eight", "date": None, "venue": None}]},
        ),
    ],
)
async def test_an_answers_one_list_under_another_name_is_the_promised_list(
    api, sim, partner, route, path, answer, relayed
):
    """The guide names no shape: an upstream may call the list `events` or `customers`, or
    give a display member as something other than text (read as null, counted)."""
    await add_fault(sim, route, partner, mode="malformed", body=json.dumps(answer))
    response = await api.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == relayed


@pytest.mark.parametrize(
    ("route", "path", "answer"),
    [
        ("search_events", "/v1/events", {"results": [{"title": "no id"}]}),
        ("search_events", "/v1/events", {"events": [], "venues": []}),  # which list? neither
        ("search_events", "/v1/events", {"page": 1}),
        ("search_events", "/v1/events", "just text"),
        ("nlq_ids", "/v1/customers/resolve?description=fans", {"ids": [None]}),
        ("nlq_ids", "/v1/customers/resolve?description=fans", {"count": 3}),
    ],
)
async def test_an_answer_that_breaks_the_promised_shape_is_a_502(api, sim, partner, route, path, answer):
    await add_fault(sim, route, partner, mode="malformed", body=json.dumps(answer))
    response = await api.get(path)
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"

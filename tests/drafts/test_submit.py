"""Submitting a draft: validated as a create payload, one package however often it is sent."""

from __future__ import annotations

import asyncio

from tests.support.sim import add_fault, upstream_calls

COMPLETE = {
    "title": "Munich shows Q3",
    "event_ids": [12345, 23456],
    "targeting_mode": "lookalike",
    "num_packages": 4,
    "filters": {"exclude_ticket_categories": ["VIP"]},
}


async def new_draft(api, state: dict) -> tuple[str, str]:
    response = await api.post("/v1/drafts", json={"step": "preview", "state": state})
    assert response.status_code == 201
    return response.json()["id"], response.headers["ETag"]


async def test_submit_of_an_incomplete_draft_is_422_with_field_errors(api, sim, partner):
    draft_id, _ = await new_draft(api, {"title": "Only a title", "num_packages": 0})
    response = await api.post(f"/v1/drafts/{draft_id}/submit")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"state.event_ids", "state.targeting_mode", "state.num_packages"}
    assert (await upstream_calls(sim, partner)).get("create_package", 0) == 0


async def test_submit_creates_the_package_and_records_it_on_the_draft(api, sim, partner):
    draft_id, tag = await new_draft(api, COMPLETE)
    response = await api.post(f"/v1/drafts/{draft_id}/submit")
    assert response.status_code == 202, response.text
    package_id = response.json()["id"]
    assert response.headers["Location"] == f"/v1/packages/{package_id}"
    draft = await api.get(f"/v1/drafts/{draft_id}")
    assert draft.json()["package_id"] == package_id and draft.headers["ETag"] != tag
    package = (await api.get(f"/v1/packages/{package_id}")).json()
    assert package["title"] == COMPLETE["title"]
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_submit_leaves_out_the_wizards_own_state(api, sim, partner):
    draft_id, _ = await new_draft(api, {**COMPLETE, "event_labels": {"12345": "Munich"}})
    response = await api.post(f"/v1/drafts/{draft_id}/submit")
    assert response.status_code == 202, response.text


async def test_submit_twice_creates_one_package(api, sim, partner):
    draft_id, _ = await new_draft(api, COMPLETE)
    first = await api.post(f"/v1/drafts/{draft_id}/submit")
    second = await api.post(f"/v1/drafts/{draft_id}/submit")
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_concurrent_submits_create_one_package(api, sim, partner):
    await add_fault(sim, "create_package", partner, mode="delay", latency_ms=400)
    draft_id, _ = await new_draft(api, COMPLETE)
    responses = await asyncio.gather(*(api.post(f"/v1/drafts/{draft_id}/submit") for _ in range(8)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_a_submitted_draft_can_no_longer_change(api):
    draft_id, _ = await new_draft(api, COMPLETE)
    assert (await api.post(f"/v1/drafts/{draft_id}/submit")).status_code == 202
    tag = (await api.get(f"/v1/drafts/{draft_id}")).headers["ETag"]
    response = await api.patch(f"/v1/drafts/{draft_id}", json={"step": "events"}, headers={"If-Match": tag})
    assert response.status_code == 409
    assert (await api.delete(f"/v1/drafts/{draft_id}", headers={"If-Match": tag})).status_code == 204


async def test_a_failed_submit_can_be_retried(api, sim, partner):
    await add_fault(sim, "create_package", partner, status=503, count=1)
    draft_id, _ = await new_draft(api, COMPLETE)
    assert (await api.post(f"/v1/drafts/{draft_id}/submit")).status_code == 502
    retry = await api.post(f"/v1/drafts/{draft_id}/submit")
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers
    assert (await upstream_calls(sim, partner))["create_package"] == 2

"""A body built to fail many ways gets a small answer for little work: one with more
separators than any body may hold is refused before it is parsed (the rest is not even
read), objects hold at most ``MAX_OBJECT_MEMBERS`` members, a 422 lists at most
``MAX_ERRORS`` field errors (the rest counted), and a member named twice is refused rather
than resolved (parsers disagree on which one wins)."""

from __future__ import annotations

import json

import httpx

from app.api.middleware import MAX_OBJECT_MEMBERS, MAX_SEPARATORS
from app.kit.errors import MAX_ERRORS

VALID = {"title": "t", "event_ids": [1], "targeting_mode": "events"}


async def _post(api: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await api.post("/v1/packages", content=body, headers={"Content-Type": "application/json"})


async def test_a_hundred_thousand_unknown_members_get_one_small_422(api: httpx.AsyncClient) -> None:
    document = {**VALID, **{f"{i:x}": 0 for i in range(100_000)}}
    body = json.dumps(document, separators=(",", ":")).encode()  # 930 KB: under the body limit
    answer = await _post(api, body)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert len(answer.content) < 2_000 < len(body)
    problem = answer.json()
    assert f"at most {MAX_SEPARATORS} ':' and ','" in problem["detail"]  # refused before parsing
    assert len(problem["errors"]) == 1


async def test_an_object_of_too_many_members_is_refused_before_validation(api: httpx.AsyncClient) -> None:
    document = {**VALID, "filters": {f"k{i}": 0 for i in range(MAX_OBJECT_MEMBERS + 1)}}
    answer = await _post(api, json.dumps(document).encode())
    assert answer.status_code == 422
    problem = answer.json()
    assert f"at most {MAX_OBJECT_MEMBERS} members" in problem["detail"]
    assert len(problem["errors"]) == 1


async def test_field_errors_past_the_cap_are_counted_not_listed(api: httpx.AsyncClient) -> None:
    unknown = MAX_ERRORS + 30
    document = {**VALID, **{f"unknown_{i}": i for i in range(unknown)}}
    answer = await _post(api, json.dumps(document).encode())
    assert answer.status_code == 422
    problem = answer.json()
    assert len(problem["errors"]) == MAX_ERRORS
    assert problem["errors_omitted"] == unknown - MAX_ERRORS
    assert all(error["loc"][0] == "body" for error in problem["errors"])


async def test_a_few_field_errors_are_all_listed(api: httpx.AsyncClient) -> None:
    answer = await _post(api, json.dumps({**VALID, "unknown": 1, "other": 2}).encode())
    assert answer.status_code == 422
    problem = answer.json()
    assert {error["field"] for error in problem["errors"]} == {"unknown", "other"}
    assert "errors_omitted" not in problem


async def test_a_member_named_twice_is_refused(api: httpx.AsyncClient) -> None:
    body = b'{"title": "first", "event_ids": [1], "targeting_mode": "events", "title": "second"}'
    answer = await _post(api, body)
    assert answer.status_code == 422
    assert "'title' appears more than once" in answer.json()["detail"]


async def test_a_member_named_twice_in_a_nested_object_is_refused(api: httpx.AsyncClient) -> None:
    body = b'{"title": "t", "event_ids": [1], "targeting_mode": "events", "filters": {"a": 1, "a": 2}}'
    answer = await _post(api, body)
    assert answer.status_code == 422
    assert "'a' appears more than once" in answer.json()["detail"]


async def test_an_error_in_a_union_item_points_at_the_item_sent(api: httpx.AsyncClient) -> None:
    """pydantic labels a union's members in its locations (``function-after[...]`` with a
    memory address); the client gets the path it sent."""
    body = {**VALID, "event_ids": [1, 2, 10**30]}
    answer = await _post(api, json.dumps(body).encode())
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert errors
    assert all(error["loc"] == ["body", "event_ids", 2] for error in errors), errors
    assert all(error["field"] == "event_ids.2" for error in errors)


async def test_a_missing_member_is_named(api: httpx.AsyncClient) -> None:
    answer = await _post(api, json.dumps({"title": "t", "event_ids": [1]}).encode())
    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()["errors"]] == [["body", "targeting_mode"]]

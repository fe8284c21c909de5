"""Small things a hostile caller tries, each refused: a trailing-slash redirect that would
echo its Host header, a token naming the partner ``null``, a token that lives for ages, a
signed link whose expiry is spelled with leading zeros."""

from __future__ import annotations

import time

import httpx
import jwt

from app.auth.tokens import issue_token
from tests.conftest import JWT_SECRET, make_token
from tests.support.sse import answer_without_stream


def _bearer(token: str, partner: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}


async def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_callers_host(
    anonymous: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    answer = await anonymous.get("/v1/packages/", headers={**auth_headers, "Host": "evil.example"})
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_a_token_for_the_partner_null_acts_for_no_one(anonymous: httpx.AsyncClient) -> None:
    now = int(time.time())
    claims = {"sub": "u", "iat": now, "exp": now + 600, "permissions": ["backhaul"], "partners": [None]}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    answer = await anonymous.get("/v1/packages", headers=_bearer(token, "None"))
    assert answer.status_code == 401
    assert "list of strings" in answer.json()["detail"]


async def test_a_token_living_longer_than_a_day_is_refused(anonymous: httpx.AsyncClient) -> None:
    token = make_token(ttl_s=2 * 86_400)
    answer = await anonymous.get("/v1/packages", headers=_bearer(token, "p1"))
    assert answer.status_code == 401
    assert "BFF_JWT_MAX_LIFETIME_S" in answer.json()["detail"]


async def test_a_token_with_an_absurd_expiry_and_no_iat_is_refused(anonymous: httpx.AsyncClient) -> None:
    token = jwt.encode(
        {"sub": "u", "exp": 10**30, "permissions": ["backhaul"], "partners": ["*"]},
        JWT_SECRET,
        algorithm="HS256",
    )
    answer = await anonymous.get("/v1/packages", headers=_bearer(token, "p1"))
    assert answer.status_code == 401


async def test_a_token_within_the_lifetime_still_works(anonymous: httpx.AsyncClient) -> None:
    token = issue_token(JWT_SECRET, sub="u", partners=["*"], ttl_s=86_000)
    answer = await anonymous.get("/v1/packages", headers=_bearer(token, "p-lifetime"))
    assert answer.status_code == 200


async def test_a_link_expiry_with_leading_zeros_is_refused(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    created = await api.post(
        "/v1/packages", json={"title": "t", "event_ids": [1], "targeting_mode": "events"}
    )
    assert created.status_code == 202
    link = httpx.URL(created.json()["events_url"])
    padded = dict(link.params)
    padded["exp"] = "0" + padded["exp"]
    answer = await answer_without_stream(anonymous, link.path, params=padded)
    assert answer.status_code == 401
    assert "malformed" in answer.json()["detail"]

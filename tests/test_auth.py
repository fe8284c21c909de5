"""The identity matrix of the contract (docs/contract.md): 401 bad token, 400 no partner, 403 not allowed."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.conftest import JWT_SECRET, make_token

PROBLEM = "application/problem+json"


def _headers(token: str | None, partner: str | None = "acme") -> dict[str, str]:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if partner is not None:
        headers["X-Preferred-Partner-Id"] = partner
    return headers


def _none_alg_token() -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    claims = jwt.utils.base64url_encode(
        f'{{"sub":"x","exp":{int(time.time()) + 60},"permissions":["backhaul"],"partners":["*"]}}'.encode()
    ).decode()
    return f"{header}.{claims}."


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no header", _headers(None)),
        ("not bearer", {"Authorization": "Basic dXNlcjpwYXNz", "X-Preferred-Partner-Id": "acme"}),
        ("garbage", _headers("not-a-jwt")),
        ("expired", _headers(make_token(ttl_s=-10))),
        ("wrong key", _headers(make_token(secret="another-secret-that-is-long-enough"))),
        ("alg none", _headers(_none_alg_token())),
        (
            "no exp",
            _headers(
                jwt.encode(
                    {"sub": "x", "permissions": ["backhaul"], "partners": ["*"]},
                    JWT_SECRET,
                    algorithm="HS256",
                )
            ),
        ),
    ],
)
async def test_bad_tokens_are_401_problems(anonymous, case, headers):
    response = await anonymous.get("/v1/packages", headers=headers)
    assert response.status_code == 401, case
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["detail"] and body["request_id"]


async def test_missing_partner_header_is_400(anonymous):
    response = await anonymous.get("/v1/packages", headers=_headers(make_token(), None))
    assert response.status_code == 400
    assert "X-Preferred-Partner-Id" in response.json()["detail"]


async def test_token_without_backhaul_permission_is_403(anonymous):
    token = make_token(permissions=["reports"])
    response = await anonymous.get("/v1/packages", headers=_headers(token))
    assert response.status_code == 403
    assert "backhaul" in response.json()["detail"]


async def test_partner_not_in_token_is_403(anonymous):
    token = make_token(partners=["acme"])
    response = await anonymous.get("/v1/packages", headers=_headers(token, "globex"))
    assert response.status_code == 403


async def test_wildcard_partners_may_act_for_any_partner(anonymous, partner):
    response = await anonymous.get("/v1/packages", headers=_headers(make_token(partners=["*"]), partner))
    assert response.status_code == 200


async def test_caller_token_and_partner_are_relayed_upstream(api, sim, partner):
    from tests.support.sim import upstream_calls

    assert (await api.get("/v1/packages")).status_code == 200
    assert (await upstream_calls(sim, partner)).get("list_packages") == 1

"""Signed links call the upstream as the service (they carry no bearer token): an API without
``BFF_UPSTREAM_SERVICE_TOKEN`` says so once at start and answers a link with a 503 naming it,
not with the upstream's bare 401."""

from __future__ import annotations

import httpx

from tests.conftest import make_token
from tests.support.processes import ApiServer
from tests.support.sse import answer_without_stream


async def test_a_link_without_the_service_token_names_the_missing_setting(bff_env, partner):
    env = {key: value for key, value in bff_env.items() if key != "BFF_UPSTREAM_SERVICE_TOKEN"}
    server = ApiServer("api-no-service-token", env).start()
    try:
        headers = {
            "Authorization": f"Bearer {make_token(partners=[partner])}",
            "X-Preferred-Partner-Id": partner,
        }
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            body = {"title": "t", "event_ids": [1], "targeting_mode": "events"}
            created = await client.post("/v1/packages", json=body, headers=headers)
            assert created.status_code == 202
            link = httpx.URL(created.json()["events_url"])
            answer = await answer_without_stream(client, link.path, params=dict(link.params))
        assert answer.status_code == 503
        assert "BFF_UPSTREAM_SERVICE_TOKEN" in answer.json()["detail"]
    finally:
        server.close()
    assert "BFF_UPSTREAM_SERVICE_TOKEN" in server.log()

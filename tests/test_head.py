"""HEAD wherever GET is (RFC 9110 §9.3.2): the same status and headers, no body, and a streamed
GET (CSV, event streams) is not read to its end; ``Allow`` names only what works."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.sim import make_package

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi" / "bff.json"
QUERY = {"/v1/customers/resolve": {"description": "fans of jazz in Munich"}}
STREAMS = {"/v1/activity/stream", "/v1/packages/{package_id}/events"}


async def _resources(api: httpx.AsyncClient, sim: httpx.AsyncClient, partner: str) -> dict[str, str]:
    """One of each resource a GET path names, so each GET answers from a real record."""
    package = await make_package(sim, partner, "DONE", clusters=["AC/DC fans"], customers_per_cluster=50_000)
    draft = await api.post("/v1/drafts", json={"step": "events", "state": {"title": "Munich shows Q3"}})
    export = await api.post(
        f"/v1/packages/{package['id']}/clusters/AC%2FDC%20fans/exports",
        json={"crm_name": "hubspot", "secret_id": "sec_1", "container_name": "Munich Q3"},
    )
    endpoint = await api.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["package.done"]}
    )
    for response in (draft, export, endpoint):
        assert response.status_code in (201, 202), response.text
    return {
        "package_id": package["id"],
        "tc": "AC%2FDC%20fans",
        "draft_id": draft.json()["id"],
        "export_id": export.json()["id"],
        "endpoint_id": endpoint.json()["id"],
    }


async def _get_status(api: httpx.AsyncClient, url: str, params: dict[str, str]) -> httpx.Response:
    """GET's status and headers; its body is not read (a stream never ends by itself)."""
    async with api.stream("GET", url, params=params) as response:
        return response


async def test_head_answers_every_get_of_the_document_with_gets_status_and_no_body(api, sim, partner):
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    ids = await _resources(api, sim, partner)
    checked = []
    for path, item in document["paths"].items():
        if "get" not in item:
            continue
        url = path.format(**ids)
        params = QUERY.get(path, {})
        got = await _get_status(api, url, params)
        # A HEAD of a stream answers at once: waiting for its end would never return.
        head = await asyncio.wait_for(api.head(url, params=params), timeout=20)
        assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
        assert got.status_code in (200, 304), (path, got.status_code)
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        checked.append(path)
    assert len(checked) >= 20 and STREAMS <= set(checked)


async def _raw_head(base_url: str, target: str, headers: dict[str, str]) -> bytes:
    """Every byte the server sends for a HEAD (httpx never reads a HEAD's body, so it could
    not tell whether one came)."""
    url = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    lines = [f"HEAD {target} HTTP/1.1", f"Host: {url.host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = await asyncio.wait_for(reader.read(), timeout=20)
    writer.close()
    return answer


async def test_head_of_a_large_csv_sends_its_headers_and_not_its_rows(api, sim, partner, auth_headers):
    ids = await _resources(api, sim, partner)
    url = f"/v1/packages/{ids['package_id']}/clusters/{ids['tc']}/customers.csv"
    answer = await _raw_head(str(api.base_url), url, auth_headers)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-type: text/csv" in head.lower()
    assert body == b""
    assert (await api.head(url, headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_allow_names_what_works_and_head_is_refused_where_get_is(api, partner):
    health = await api.request("PUT", "/healthz")
    assert health.status_code == 405 and health.headers["allow"] == "GET, HEAD"
    assert (await api.head("/healthz")).status_code == 200
    watch = await api.head("/v1/packages/123/watch")
    assert watch.status_code == 405 and watch.headers["allow"] == "POST"
    assert watch.content == b""
    assert (await api.head("/v1/no-such-route")).status_code == 404

"""CSV download: streamed through, tricky cluster names intact, failures never look complete."""

from __future__ import annotations

from urllib.parse import quote, unquote

import httpx
import pytest

from tests.support.sim import add_fault, make_package

TRICKY = [
    "family_outings_munich",
    "Rock & Roll",
    "AC/DC fans",
    "100% locals",
    "Münchner Kindl",
    "jazz brunch",
    "a?b#c",
    'say "hi"; x=1',
]


def csv_path(package_id: str, tc: str) -> str:
    return f"/v1/packages/{package_id}/clusters/{quote(tc, safe='')}/customers.csv"


@pytest.mark.parametrize("tc", TRICKY)
async def test_csv_of_a_tricky_cluster_name_streams_whole(api, sim, partner, tc):
    package = await make_package(sim, partner, "DONE", clusters=[tc, "other"], customers_per_cluster=250)
    response = await api.get(csv_path(package["id"], tc))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert len(lines) == 1 + 250  # header + one row per customer
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    star = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(star) == f"{tc}-customers.csv"
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and "/" not in fallback and "\\" not in fallback


async def test_large_csv_streams_in_chunks(api, sim, partner):
    package = await make_package(sim, partner, "DONE", clusters=["big one"], customers_per_cluster=300_000)
    rows, chunks = 0, 0
    async with api.stream("GET", csv_path(package["id"], "big one")) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            rows += chunk.count(b"\n")
            chunks += 1
    assert rows == 300_001
    assert chunks > 10  # arrived as a stream, not one buffered body


async def test_unknown_cluster_keeps_the_upstream_404(api, sim, partner):
    package = await make_package(sim, partner, "DONE", clusters=["known"])
    response = await api.get(csv_path(package["id"], "unknown"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_csv_of_a_building_package_keeps_the_upstream_409(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS")
    response = await api.get(csv_path(package["id"], "anything"))
    assert response.status_code == 409


async def test_upstream_breaking_off_mid_csv_is_an_error_not_a_short_file(api, sim, partner):
    package = await make_package(sim, partner, "DONE", clusters=["cut"], customers_per_cluster=200_000)
    await add_fault(sim, "get_customer_list", partner, mode="truncate", after_bytes=100_000, count=1)
    with pytest.raises(httpx.HTTPError):
        async with api.stream("GET", csv_path(package["id"], "cut")) as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                pass
    # The API survived and serves the next download whole.
    whole = await api.get(csv_path(package["id"], "cut"))
    assert whole.text.count("\n") == 200_001


async def test_client_going_away_mid_download_leaves_the_api_healthy(api, sim, partner):
    package = await make_package(sim, partner, "DONE", clusters=["huge"], customers_per_cluster=5_000_000)
    async with api.stream("GET", csv_path(package["id"], "huge")) as response:
        async for _ in response.aiter_bytes():
            break  # leave after the first chunk
    assert (await api.get("/healthz")).status_code == 200
    small = await make_package(sim, partner, "DONE", clusters=["small"], customers_per_cluster=3)
    assert (await api.get(csv_path(small["id"], "small"))).text.count("\n") == 4


async def test_the_signed_csv_url_of_the_results_view_downloads_without_headers(api, anonymous, sim, partner):
    """``<a href download>`` sends no Authorization: the view's csv_url is enough, for 15 min."""
    package = await make_package(sim, partner, "DONE", clusters=["AC/DC fans"], customers_per_cluster=3)
    view = (await api.get(f"/v1/packages/{package['id']}")).json()
    url = view["clusters"][0]["csv_url"]
    response = await anonymous.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert len(response.text.strip().splitlines()) == 4  # header + 3 customers
    other = await make_package(sim, partner, "DONE", clusters=["AC/DC fans"], customers_per_cluster=3)
    moved = url.replace(f"/packages/{package['id']}/", f"/packages/{other['id']}/")
    assert (await anonymous.get(moved)).status_code == 403

"""The simulator in-process (httpx ASGITransport): the upstream contract, lifecycle, faults, stats.

Real-socket behaviour (uvicorn's path decoding, dropped connections, huge CSVs) is covered in
test_simulator_server.py.
"""

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from app.simulator.app import create_app
from app.simulator.catalog import is_tricky
from app.simulator.settings import SimulatorSettings
from app.simulator.state import Build, Package, lifecycle

TRICKY_TCS = ["family_outings_munich", "Rock & Roll", "AC/DC fans", "100% locals",
              "Münchner Kindl", "jazz brunch", "a?b#c"]  # fmt: skip
VALID_CREATE: dict[str, Any] = {
    "num_packages": 3,
    "n_top_events": 3,
    "event_ids": [12345, 23456, 34567],
    "package_title": "Munich shows Q3",
    "targeting_mode": "lookalike",
    "filters": {
        "included_customers": [],
        "excluded_customers": [],
        "exclude_buying_behavior_above": None,
        "exclude_buying_behavior_below": None,
        "exclude_old_purchases_before": "2024-01-01",
        "exclude_recent_purchases_after": None,
        "exclude_ticket_categories": ["VIP"],
    },
}


def auth(partner: str = "p1") -> dict[str, str]:
    return {"Authorization": "Bearer any-token", "X-Preferred-Partner-Id": partner}


def csv_url(package_id: str, tc: str) -> str:
    return f"/package_builder/packages/{package_id}/{quote(tc, safe='')}/customer_list"


async def client_for(**settings: Any) -> httpx.AsyncClient:
    app = create_app(SimulatorSettings(**settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A fresh simulator whose builds take an hour, so only forced states are DONE."""
    async with await client_for(build_seconds=3600) as client:
        yield client


async def make_package(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"partner_id": "p1", "status": "DONE", **fields}
    response = await client.post("/_sim/packages", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def create(client: httpx.AsyncClient, partner: str = "p1", **changes: Any) -> str:
    response = await client.post("/package_builder/packages", json={**VALID_CREATE, **changes},
                                 headers=auth(partner))  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


# --- auth, paths, partners -------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}])
async def test_requests_without_a_bearer_token_are_401(client: httpx.AsyncClient, headers: dict) -> None:
    response = await client.get("/package_builder/packages/",
                                headers={**headers, "X-Preferred-Partner-Id": "p1"})  # fmt: skip
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_requests_without_a_partner_header_are_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/events", headers={"Authorization": "Bearer t"})
    assert response.status_code == 400


async def test_list_and_create_paths_are_exact(client: httpx.AsyncClient) -> None:
    assert (await client.get("/package_builder/packages", headers=auth())).status_code == 405
    response = await client.post("/package_builder/packages/", json=VALID_CREATE, headers=auth())
    assert response.status_code == 405


async def test_a_new_partner_is_seeded_deterministically(client: httpx.AsyncClient) -> None:
    packages = (await client.get("/package_builder/packages/", headers=auth("acme"))).json()
    assert sorted(package["status"] for package in packages) == ["DONE", "DONE", "DONE", "EXPIRED"]
    assert len({package["title"] for package in packages}) == 4
    assert all(package["id"].isdigit() and package["created_at"].endswith("Z") for package in packages)
    merged = [package for package in packages if package["merge_id"]]
    assert len(merged) == 1
    sources = merged[0]["merge_id"].split("_")
    assert len(sources) == 2 and set(sources) <= {package["id"] for package in packages}
    async with await client_for() as other:
        again = (await other.get("/package_builder/packages/", headers=auth("acme"))).json()
    assert [package["title"] for package in again] == [package["title"] for package in packages]


async def test_another_partners_package_is_404(client: httpx.AsyncClient) -> None:
    package = await make_package(client, partner_id="p1", clusters=["jazz brunch"])
    package_id = package["id"]
    other = auth("p2")
    for path in (f"/package_builder/packages/{package_id}",
                 f"/package_builder/packages/{package_id}/backhaul_evaluation_details",
                 f"/package_builder/packages/{package_id}/backhaul_evaluation",
                 csv_url(package_id, "jazz brunch")):  # fmt: skip
        assert (await client.get(path, headers=other)).status_code == 404, path
    regenerate = await client.post(f"/package_builder/packages/{package_id}/regenerate", headers=other)
    assert regenerate.status_code == 404
    own = (await client.get("/package_builder/packages/", headers=other)).json()
    assert package_id not in {item["id"] for item in own}


# --- create and lifecycle --------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"num_packages": "3"},
        {"event_ids": ["12345"]},
        {"package_title": ""},
        {"title": "extra field"},
        {"filters": {**VALID_CREATE["filters"], "exclude_old_purchases_before": "01/01/2024"}},
        {"filters": {k: v for k, v in VALID_CREATE["filters"].items() if k != "included_customers"}},
    ],
)
async def test_create_rejects_invalid_payloads(client: httpx.AsyncClient, change: dict) -> None:
    response = await client.post("/package_builder/packages", json={**VALID_CREATE, **change}, headers=auth())
    assert response.status_code == 422


async def test_create_rejects_a_missing_field(client: httpx.AsyncClient) -> None:
    body = {k: v for k, v in VALID_CREATE.items() if k != "targeting_mode"}
    assert (await client.post("/package_builder/packages", json=body, headers=auth())).status_code == 422


async def test_a_created_package_starts_initializing_without_content(client: httpx.AsyncClient) -> None:
    package_id = await create(client)
    package = (await client.get(f"/package_builder/packages/{package_id}", headers=auth())).json()
    assert package["status"] == "INITIALIZING" and package["progress"] == 0
    assert "content" not in package
    assert package["title"] == "Munich shows Q3" and package["merge_id"] is None
    assert [event["id"] for event in package["events"]] == [12345, 23456, 34567]
    assert package["filter_settings"]["exclude_ticket_categories"] == ["VIP"]


async def test_a_build_progresses_to_done_with_content() -> None:
    async with await client_for(build_seconds=0.3) as client:
        package_id = await create(client, num_packages=4)
        seen, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            package = (await client.get(f"/package_builder/packages/{package_id}", headers=auth())).json()
            seen.append((package["status"], package["progress"]))
            if package["status"] == "DONE":
                break
            await asyncio.sleep(0.02)
    assert seen[-1] == ("DONE", 100)
    progress = [value for _, value in seen]
    assert progress == sorted(progress)
    content = package["content"]
    assert len(content) == 4 and any(is_tricky(tc) for tc in content)
    for cluster in content.values():
        assert cluster["customers"] > 0 and len(cluster["preview"]) == 5
        assert {"id", "email"} <= set(cluster["preview"][0])


def test_lifecycle_follows_the_clock() -> None:
    package = Package(id="1", partner_id="p", title="t", created_at=None, targeting_mode="lookalike",  # type: ignore[arg-type]
                      filter_settings={}, events=[], num_packages=3,
                      build=Build(started_at=1000.0, seconds=10.0, fails=False))  # fmt: skip
    assert lifecycle(package, 1000.5, 60) == ("INITIALIZING", 0)
    assert lifecycle(package, 1005.0, 60) == ("INPROGRESS", 50)
    assert lifecycle(package, 1009.99, 60) == ("INPROGRESS", 99)
    assert lifecycle(package, 1010.0, 60) == ("DONE", 100)
    assert lifecycle(package, 1070.0, 60) == ("EXPIRED", 100)
    package.build.fails = True
    assert lifecycle(package, 1010.0, 60)[0] == "FAILED"
    package.forced_status, package.forced_progress = "INPROGRESS", 40
    assert lifecycle(package, 1010.0, 60) == ("INPROGRESS", 40)


async def test_fail_marker_and_fail_rate_fail_the_build(client: httpx.AsyncClient) -> None:
    await client.patch("/_sim/config", json={"build_seconds": 0})
    marked = await create(client, package_title="Broken [fail]")
    healthy = await create(client, package_title="Healthy")
    await client.patch("/_sim/config", json={"fail_rate": 1.0})
    unlucky = await create(client, package_title="Unlucky")
    statuses = {}
    for package_id in (marked, healthy, unlucky):
        response = await client.get(f"/package_builder/packages/{package_id}", headers=auth())
        statuses[package_id] = response.json()["status"]
    assert statuses == {marked: "FAILED", healthy: "DONE", unlucky: "FAILED"}


async def test_done_packages_expire_after_expire_after_s(client: httpx.AsyncClient) -> None:
    await client.patch("/_sim/config", json={"build_seconds": 0, "expire_after_s": 0})
    package_id = await create(client)
    package = (await client.get(f"/package_builder/packages/{package_id}", headers=auth())).json()
    assert package["status"] == "EXPIRED" and "content" in package


async def test_forced_status_overrides_the_clock(client: httpx.AsyncClient) -> None:
    package_id = await create(client)
    response = await client.post(
        f"/_sim/packages/{package_id}/status", json={"status": "INPROGRESS", "progress": 40}
    )
    assert response.status_code == 200
    package = (await client.get(f"/package_builder/packages/{package_id}", headers=auth())).json()
    assert (package["status"], package["progress"]) == ("INPROGRESS", 40)


# --- merge, evaluation, regenerate -----------------------------------------------------------


async def test_merge_takes_repeated_query_params_and_records_merge_id(client: httpx.AsyncClient) -> None:
    first = await make_package(client, events=[{"id": 1, "title": "One"}])
    second = await make_package(client, events=[{"id": 2, "title": "Two"}])
    response = await client.post("/package_builder/packages/merge",
                                 params=[("packages_ids", first["id"]), ("packages_ids", second["id"])],
                                 headers=auth())  # fmt: skip
    assert response.status_code == 200, response.text
    merged = (await client.get(f"/package_builder/packages/{response.json()['id']}", headers=auth())).json()
    assert merged["merge_id"] == f"{first['id']}_{second['id']}"
    assert merged["status"] == "INITIALIZING"
    assert [event["id"] for event in merged["events"]] == [1, 2]


async def test_merge_refuses_bodies_single_ids_and_unknown_ids(client: httpx.AsyncClient) -> None:
    first, second = await make_package(client), await make_package(client)
    merge = "/package_builder/packages/merge"
    both = [("packages_ids", first["id"]), ("packages_ids", second["id"])]
    with_body = await client.post(merge, params=both, json={"packages_ids": [first["id"], second["id"]]},
                                  headers=auth())  # fmt: skip
    assert with_body.status_code == 400
    only_one = await client.post(merge, params=[("packages_ids", first["id"])], headers=auth())
    assert only_one.status_code == 400
    same_twice = await client.post(merge, params=[("packages_ids", first["id"])] * 2, headers=auth())
    assert same_twice.status_code == 400
    comma = await client.post(merge, params={"packages_ids": f"{first['id']},{second['id']}"}, headers=auth())
    assert comma.status_code == 400
    unknown = await client.post(merge, params=[*both[:1], ("packages_ids", "999999")], headers=auth())
    assert unknown.status_code == 404
    other_partner = await client.post(merge, params=both, headers=auth("p2"))
    assert other_partner.status_code == 404


async def test_evaluation_details_default_and_validate(client: httpx.AsyncClient) -> None:
    package = await make_package(client)
    url = f"/package_builder/packages/{package['id']}/backhaul_evaluation_details"
    assert (await client.get(url, headers=auth())).json() == {
        "backhaul_evaluation_attribution_window": 7,
        "backhaul_evaluation_model": "EVENTS_FROM_PACKAGE",
        "email_sent_date": None,
    }
    good = {"backhaul_evaluation_attribution_window": 14, "backhaul_evaluation_model": "ALL_EVENTS",
            "email_sent_date": "2026-06-01"}  # fmt: skip
    window = "backhaul_evaluation_attribution_window"
    for bad in ({window: 0}, {window: "14"}, {window: 366}, {"backhaul_evaluation_model": "LAST_TOUCH"},
                {"email_sent_date": "June 1st"}):  # fmt: skip
        assert (await client.put(url, json={**good, **bad}, headers=auth())).status_code == 422, bad
    missing = {k: v for k, v in good.items() if k != "email_sent_date"}
    assert (await client.put(url, json=missing, headers=auth())).status_code == 422
    saved = await client.put(url, json=good, headers=auth())
    assert saved.status_code == 200 and saved.json() == good
    assert (await client.get(url, headers=auth())).json() == good


async def test_evaluation_changes_with_settings(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=["Rock & Roll", "jazz brunch"], customers_per_cluster=500)
    base = f"/package_builder/packages/{package['id']}"

    async def evaluate(window: int, model: str, sent: str | None = None) -> dict:
        body = {"backhaul_evaluation_attribution_window": window, "backhaul_evaluation_model": model,
                "email_sent_date": sent}  # fmt: skip
        assert (await client.put(f"{base}/backhaul_evaluation_details", json=body, headers=auth())).is_success
        response = await client.get(f"{base}/backhaul_evaluation", headers=auth())
        assert response.status_code == 200
        return dict(response.json()["clusters"])

    default = await evaluate(7, "EVENTS_FROM_PACKAGE")
    assert set(default) == {"Rock & Roll", "jazz brunch"}
    assert set(default["jazz brunch"]) == {"customers", "items", "purchase"}
    results = [default, await evaluate(30, "EVENTS_FROM_PACKAGE"), await evaluate(30, "ALL_EVENTS"),
               await evaluate(30, "ALL_EVENTS", "2026-06-03")]  # fmt: skip
    assert len({repr(result) for result in results}) == 4
    assert await evaluate(7, "EVENTS_FROM_PACKAGE") == default


async def test_evaluation_is_409_until_done(client: httpx.AsyncClient) -> None:
    package_id = await create(client)
    response = await client.get(f"/package_builder/packages/{package_id}/backhaul_evaluation", headers=auth())
    assert response.status_code == 409


async def test_regenerate_only_an_expired_package(client: httpx.AsyncClient) -> None:
    done = await make_package(client)
    refused = await client.post(f"/package_builder/packages/{done['id']}/regenerate", headers=auth())
    assert refused.status_code == 409
    expired = await make_package(client, status="EXPIRED", clusters=["AC/DC fans"])
    assert "content" in expired
    response = await client.post(f"/package_builder/packages/{expired['id']}/regenerate", headers=auth())
    assert response.status_code == 200
    assert response.json() == {"id": expired["id"], "status": "INITIALIZING"}
    package = (await client.get(f"/package_builder/packages/{expired['id']}", headers=auth())).json()
    assert package["status"] == "INITIALIZING" and "content" not in package


# --- CSV (in-process; the real-socket variants are in test_simulator_server.py) ----------------


@pytest.mark.parametrize("tc", TRICKY_TCS)
async def test_customer_list_round_trips_tricky_names(client: httpx.AsyncClient, tc: str) -> None:
    package = await make_package(client, clusters=[tc, "plain"], customers_per_cluster=1234)
    response = await client.get(csv_url(package["id"], tc), headers=auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert int(response.headers["content-length"]) == len(response.content)
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["customer_id", "email", "first_name", "last_name", "purchases", "total_spent"]
    assert len(rows) == 1 + 1234
    assert rows[1][0] == package["content"][tc]["preview"][0]["id"]


async def test_customer_list_errors(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=["jazz brunch"], customers_per_cluster=0)
    empty = await client.get(csv_url(package["id"], "jazz brunch"), headers=auth())
    assert empty.status_code == 200 and empty.text.count("\n") == 1
    assert (await client.get(csv_url(package["id"], "jazz"), headers=auth())).status_code == 404
    assert (await client.get(csv_url("424242", "jazz brunch"), headers=auth())).status_code == 404
    await client.post(f"/_sim/packages/{package['id']}/status", json={"status": "EXPIRED"})
    assert (await client.get(csv_url(package["id"], "jazz brunch"), headers=auth())).status_code == 409


# --- events, NLQ, exports ----------------------------------------------------------------------


async def test_events_are_paged(client: httpx.AsyncClient) -> None:
    first = (await client.get("/events?search=&page=&since=", headers=auth())).json()
    assert (first["page"], first["page_size"], first["total"], first["has_more"]) == (1, 20, 200, True)
    assert set(first["results"][0]) == {"id", "title", "date", "venue"}
    assert isinstance(first["results"][0]["id"], int)
    last = (await client.get("/events", params={"page": 10}, headers=auth())).json()
    assert len(last["results"]) == 20 and last["has_more"] is False
    beyond = (await client.get("/events", params={"page": 11}, headers=auth())).json()
    assert beyond["results"] == [] and beyond["total"] == 200


async def test_events_search_and_since(client: httpx.AsyncClient) -> None:
    found = (await client.get("/events", params={"search": "ZENITH"}, headers=auth())).json()
    assert found["total"] > 0
    assert all("zenith" in (e["title"] + e["venue"]).lower() for e in found["results"])
    since = (await client.get("/events", params={"since": "2026-01-01"}, headers=auth())).json()
    assert 0 < since["total"] < 200 and all(e["date"] >= "2026-01-01" for e in since["results"])
    for bad in ({"page": "0"}, {"page": "two"}, {"since": "yesterday"}, {"since": "2026-1-1"}):
        assert (await client.get("/events", params=bad, headers=auth())).status_code == 422, bad


async def test_nlq_is_deterministic(client: httpx.AsyncClient) -> None:
    params = {"description": "families who bought twice", "result_type": "customers", "language": "en"}
    first = (await client.get("/nlq/ids_from_nl_description", params=params, headers=auth())).json()
    again = (await client.get("/nlq/ids_from_nl_description", params=params, headers=auth())).json()
    assert first == again and first["ids"] and first["result_type"] == "customers"
    missing = await client.get("/nlq/ids_from_nl_description", params={"language": "en"}, headers=auth())
    assert missing.status_code == 422


async def test_exports_are_accepted_for_done_clusters_only(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=["100% locals"])
    body = {"crm_name": "hubspot", "secret_id": "sec_1", "container_name": "list-1",
            "packageId": package["id"], "tc": "100% locals"}  # fmt: skip
    accepted = await client.post("/exports", json=body, headers=auth())
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "ACCEPTED" and accepted.json()["id"]
    assert (await client.post("/exports", json={**body, "tc": "nope"}, headers=auth())).status_code == 404
    assert (await client.post("/exports", json=body, headers=auth("p2"))).status_code == 404
    no_crm = {k: v for k, v in body.items() if k != "crm_name"}
    assert (await client.post("/exports", json=no_crm, headers=auth())).status_code == 422
    await client.post(f"/_sim/packages/{package['id']}/status", json={"status": "INPROGRESS"})
    assert (await client.post("/exports", json=body, headers=auth())).status_code == 409
    exports = (await client.get("/_sim/exports")).json()["exports"]
    assert [export["tc"] for export in exports] == ["100% locals"]


# --- faults, stats, control ------------------------------------------------------------------


async def test_error_fault_with_count_then_clears(client: httpx.AsyncClient) -> None:
    fault = {"route": "list_packages", "status": 503, "count": 2}
    assert (await client.post("/_sim/faults", json=fault)).status_code == 201
    statuses = [
        (await client.get("/package_builder/packages/", headers=auth())).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert (await client.get("/events", headers=auth())).status_code == 200
    assert (await client.get("/_sim/faults")).json() == {"faults": []}


async def test_fault_can_target_one_partner(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/faults", json={"route": "*", "status": 500, "partner_id": "p2"})
    assert (await client.get("/events", headers=auth("p1"))).status_code == 200
    assert (await client.get("/events", headers=auth("p2"))).status_code == 500


async def test_malformed_fault_answers_200_with_an_unexpected_body(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/faults", json={"route": "get_package", "mode": "malformed", "count": 1})
    await client.post("/_sim/faults", json={"route": "list_packages", "mode": "malformed",
                                            "body": "[{not json", "count": 1})  # fmt: skip
    response = await client.get("/package_builder/packages/1001", headers=auth())
    assert response.status_code == 200 and response.json() == {"unexpected": True}
    listed = await client.get("/package_builder/packages/", headers=auth())
    assert listed.status_code == 200 and listed.text == "[{not json"


async def test_latency_fault_delays_and_rate_zero_never_fires(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/faults", json={"route": "search_events", "mode": "error", "rate": 0.0})
    await client.post("/_sim/faults", json={"route": "search_events", "mode": "delay", "latency_ms": 200})
    started = time.monotonic()
    response = await client.get("/events", headers=auth())
    assert response.status_code == 200 and time.monotonic() - started >= 0.2
    assert (await client.delete("/_sim/faults")).status_code == 204
    assert (await client.get("/_sim/faults")).json() == {"faults": []}


async def test_fault_routes_are_validated(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sim/faults", json={"route": "list_pkgs"})).status_code == 422
    assert (await client.post("/_sim/faults", json={"route": "*", "mode": "explode"})).status_code == 422


async def test_disconnect_fault_raises_in_process(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/faults", json={"route": "nlq_ids", "mode": "disconnect", "count": 1})
    with pytest.raises(Exception, match="simulated disconnect"):
        await client.get("/nlq/ids_from_nl_description?description=x", headers=auth())


async def test_bulk_creates_many_packages_of_one_partner_forced_or_building(
    client: httpx.AsyncClient,
) -> None:
    forced = await client.post(
        "/_sim/packages/bulk", json={"partner_id": "p9", "count": 30, "status": "DONE"}
    )
    building = await client.post(
        "/_sim/packages/bulk", json={"partner_id": "p9", "count": 5, "build_seconds": [100, 200]}
    )
    assert forced.status_code == building.status_code == 201
    listed = (await client.get("/package_builder/packages/", headers=auth("p9"))).json()
    statuses = {p["id"]: p["status"] for p in listed}
    assert all(statuses[p["id"]] == "DONE" for p in forced.json()["packages"])
    for package in building.json()["packages"]:
        assert statuses[package["id"]] in ("INITIALIZING", "INPROGRESS")
        assert time.time() + 90 < package["done_at"] < time.time() + 201
    assert len(listed) == 4 + 35  # the seeded four, then the bulk ones
    assert (await client.get("/package_builder/packages/", headers=auth("p8"))).json() != listed


async def test_stats_count_every_upstream_request(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/faults", json={"route": "search_events", "count": 1})
    await client.get("/events", headers=auth("p1"))
    await client.get("/events", headers=auth("p1"))
    await client.get("/package_builder/packages/", headers=auth("p2"))
    await client.get("/_sim/config")
    stats = (await client.get("/_sim/stats")).json()
    assert stats["requests"] == {"search_events": 2, "list_packages": 1}
    assert stats["by_partner"] == {"p1": {"search_events": 2}, "p2": {"list_packages": 1}}
    assert stats["last_cookie"] == {"p1": None, "p2": None}
    assert stats["last_traceparent"] == {"p1": None, "p2": None}
    list_bytes = len((await client.get("/package_builder/packages/", headers=auth("p2"))).content)
    stats = (await client.get("/_sim/stats")).json()
    assert stats["bytes_by_partner"]["p2"] == {"list_packages": 2 * list_bytes}
    assert (await client.post("/_sim/stats/reset")).status_code == 204
    assert (await client.get("/_sim/stats")).json() == {
        "requests": {},
        "by_partner": {},
        "bytes_by_partner": {},
        "last_cookie": {},
        "last_traceparent": {},
    }


async def test_reset_forgets_everything(client: httpx.AsyncClient) -> None:
    await client.patch("/_sim/config", json={"build_seconds": 1.5, "seed_partners": False})
    await client.post("/_sim/faults", json={"route": "*"})
    assert (await client.post("/_sim/reset")).status_code == 204
    assert (await client.get("/_sim/config")).json() == {
        "build_seconds": 3600, "expire_after_s": 86400, "fail_rate": 0, "seed_partners": True,
    }  # fmt: skip
    assert (await client.get("/_sim/faults")).json() == {"faults": []}
    assert len((await client.get("/package_builder/packages/", headers=auth())).json()) == 4


async def test_seeding_can_be_switched_off(client: httpx.AsyncClient) -> None:
    await client.patch("/_sim/config", json={"seed_partners": False})
    assert (await client.get("/package_builder/packages/", headers=auth("fresh"))).json() == []

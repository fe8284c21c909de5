"""Packages over the real API and the simulator: list, create, merge, results, evaluation."""

from __future__ import annotations

import httpx
import pytest

from tests.support.sim import add_fault, force_status, make_package, upstream_calls

FILTERS = {
    "included_customers": [],
    "excluded_customers": [],
    "exclude_buying_behavior_above": None,
    "exclude_buying_behavior_below": None,
    "exclude_old_purchases_before": "2024-01-01",
    "exclude_recent_purchases_after": None,
    "exclude_ticket_categories": ["VIP"],
}


def create_body(**overrides):
    body = {
        "title": "Munich shows Q3",
        "event_ids": [12345, 23456],
        "targeting_mode": "lookalike",
        "filters": FILTERS,
    }
    body.update(overrides)
    return body


async def test_list_is_newest_first_with_merged_from_split(api, sim, partner):
    first = await make_package(sim, partner, "DONE", title="first")
    second = await make_package(sim, partner, "DONE", title="second")
    merged = await make_package(
        sim, partner, "DONE", title="merged", merge_id=f"{first['id']}_{second['id']}"
    )
    body = (await api.get("/v1/packages")).json()
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[merged["id"]]["merged_from"] == [first["id"], second["id"]]
    assert by_id[first["id"]]["merged_from"] == []
    stamps = [(item["created_at"], int(item["id"])) for item in body["items"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_list_filters_by_status_and_query(api, sim, partner):
    done = await make_package(sim, partner, "DONE", title="Zebrafish brunch lovers")
    await make_package(sim, partner, "FAILED", title="ZEBRAFISH failures")
    expired = await make_package(sim, partner, "EXPIRED", title="Old zebrafish rock")
    only_done = (await api.get("/v1/packages", params={"status": "DONE", "q": "zebrafish"})).json()
    assert [item["id"] for item in only_done["items"]] == [done["id"]]
    two = (
        await api.get("/v1/packages", params=[("status", "DONE"), ("status", "EXPIRED"), ("q", "Zebrafish")])
    ).json()
    assert [item["id"] for item in two["items"]] == [expired["id"], done["id"]]


async def test_list_pages_with_a_cursor_without_gaps_or_repeats(api, sim, partner):
    for n in range(5):
        await make_package(sim, partner, "DONE", title=f"paged {n}")
    everything = (await api.get("/v1/packages", params={"limit": 200})).json()["items"]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/packages", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [item["id"] for item in everything]


async def test_bad_cursor_is_422_like_every_bad_query_parameter(api):
    response = await api.get("/v1/packages", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_create_answers_202_with_location_and_retry_after(api, sim, partner):
    response = await api.post("/v1/packages", json=create_body())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "INITIALIZING"
    assert response.headers["location"] == f"/v1/packages/{body['id']}"
    assert int(response.headers["retry-after"]) >= 1
    status = (await api.get(f"/v1/packages/{body['id']}/status")).json()
    assert status["id"] == body["id"] and status["status"] in ("INITIALIZING", "INPROGRESS")
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_create_uses_the_callers_sizes_not_the_reference_3_3(api, sim, partner):
    response = await api.post("/v1/packages", json=create_body(num_packages=5, n_top_events=7))
    package_id = response.json()["id"]
    await force_status(sim, package_id, "DONE")
    view = (await api.get(f"/v1/packages/{package_id}")).json()
    assert len(view["clusters"]) == 5


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("no title", create_body(title="")),
        ("blank title", create_body(title="   ")),
        ("no events", create_body(event_ids=[])),
        ("repeated events", create_body(event_ids=[1, 1])),
        ("no targeting", {k: v for k, v in create_body().items() if k != "targeting_mode"}),
        ("too many clusters", create_body(num_packages=0)),
        ("negative top events", create_body(n_top_events=-1)),
        ("bad date", create_body(filters={**FILTERS, "exclude_old_purchases_before": "01/02/2024"})),
        ("timestamp date", create_body(filters={**FILTERS, "exclude_old_purchases_before": 0})),
        (
            "below > above",
            create_body(
                filters={
                    **FILTERS,
                    "exclude_buying_behavior_below": 500,
                    "exclude_buying_behavior_above": 100,
                }
            ),
        ),
        (
            "dates crossed",
            create_body(
                filters={
                    **FILTERS,
                    "exclude_old_purchases_before": "2025-01-01",
                    "exclude_recent_purchases_after": "2024-01-01",
                }
            ),
        ),
        (
            "included and excluded",
            create_body(
                filters={**FILTERS, "included_customers": ["c1", "c2"], "excluded_customers": ["c2"]}
            ),
        ),
        ("unknown filter", create_body(filters={**FILTERS, "exclude_everyone": True})),
        ("unknown field", create_body(colour="blue")),
    ],
)
async def test_create_validates_like_the_guide_implies(api, sim, partner, case, body):
    response = await api.post("/v1/packages", json=body)
    assert response.status_code == 422, (case, response.text)
    problem = response.json()
    assert problem["errors"] and problem["detail"]
    assert (await upstream_calls(sim, partner)).get("create_package") is None


async def test_merge_sends_repeated_ids_and_the_new_package_lists_its_sources(api, sim, partner):
    a = await make_package(sim, partner, "DONE")
    b = await make_package(sim, partner, "DONE")
    response = await api.post("/v1/packages/merge", json={"package_ids": [a["id"], b["id"]]})
    assert response.status_code == 202, response.text
    merged_id = response.json()["id"]
    view = (await api.get(f"/v1/packages/{merged_id}")).json()
    assert view["merged_from"] == [a["id"], b["id"]]


@pytest.mark.parametrize("ids", [[], ["1"], ["1", "1"], ["1", ""]])
async def test_merge_needs_two_distinct_ids(api, ids):
    response = await api.post("/v1/packages/merge", json={"package_ids": ids})
    assert response.status_code == 422


async def test_merge_of_an_unknown_package_keeps_the_upstream_404(api, sim, partner):
    a = await make_package(sim, partner, "DONE")
    response = await api.post("/v1/packages/merge", json={"package_ids": [a["id"], "987654321"]})
    assert response.status_code == 404


async def test_results_page_aggregates_package_settings_and_evaluation(api, sim, partner):
    package = await make_package(
        sim, partner, "DONE", clusters=["Rock & Roll", "AC/DC fans"], customers_per_cluster=12
    )
    before = await upstream_calls(sim, partner)
    view = (await api.get(f"/v1/packages/{package['id']}")).json()
    after = await upstream_calls(sim, partner)
    for operation in ("get_package", "get_evaluation_details", "get_evaluation"):
        assert after.get(operation, 0) - before.get(operation, 0) == 1
    assert [c["tc"] for c in view["clusters"]] == ["Rock & Roll", "AC/DC fans"]
    cluster = view["clusters"][1]
    assert cluster["customers"] == 12 and cluster["evaluation"] is not None
    csv_url = httpx.URL(cluster["csv_url"])
    assert csv_url.raw_path.split(b"?")[0].endswith(
        f"/v1/packages/{package['id']}/clusters/AC%2FDC%20fans/customers.csv".encode()
    )
    assert {"partner_id", "exp", "sig"} <= csv_url.params.keys(), "a signed link"
    assert httpx.URL(view["events_url"]).params["partner_id"] == partner
    assert view["evaluation_settings"]["attribution_window_days"] is not None
    assert view["progress"] == 100
    assert view["actions"] == {
        "can_regenerate": False,
        "can_download": True,
        "can_export": True,
        "can_evaluate": True,
        "can_merge": True,
    }


async def test_results_page_of_a_building_package_has_progress_and_no_clusters(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS", progress=40)
    view = (await api.get(f"/v1/packages/{package['id']}")).json()
    assert view["status"] == "INPROGRESS" and view["progress"] == 40
    assert view["clusters"] == []
    assert view["actions"]["can_download"] is False


async def test_expired_package_offers_regenerate_and_regenerate_rebuilds(api, sim, partner):
    package = await make_package(sim, partner, "EXPIRED")
    view = (await api.get(f"/v1/packages/{package['id']}")).json()
    assert view["actions"]["can_regenerate"] is True
    response = await api.post(f"/v1/packages/{package['id']}/regenerate")
    assert response.status_code == 202
    status = (await api.get(f"/v1/packages/{package['id']}/status")).json()
    assert status["status"] in ("INITIALIZING", "INPROGRESS")


@pytest.mark.parametrize("status", ["DONE", "INPROGRESS", "FAILED"])
async def test_regenerate_is_409_unless_expired(api, sim, partner, status):
    package = await make_package(sim, partner, status)
    response = await api.post(f"/v1/packages/{package['id']}/regenerate")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_evaluation_put_saves_settings_and_returns_the_fresh_result(api, sim, partner):
    package = await make_package(sim, partner, "DONE", customers_per_cluster=1000)
    url = f"/v1/packages/{package['id']}/evaluation"
    before = (await api.get(url)).json()
    update = {"attribution_window_days": 30, "model": "ALL_EVENTS", "email_sent_date": "2026-06-01"}
    after = (await api.put(url, json=update)).json()
    assert after["settings"] == update
    assert after["clusters"] != before["clusters"]
    assert (await api.get(url)).json() == after


async def test_two_tabs_cannot_silently_overwrite_each_others_settings(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = f"/v1/packages/{package['id']}/evaluation"
    read = await api.get(url)
    etag = read.headers["etag"]
    first_tab = {"attribution_window_days": 30, "model": "ALL_EVENTS", "email_sent_date": "2026-06-01"}
    second_tab = {"attribution_window_days": 7, "model": "EVENTS_FROM_PACKAGE", "email_sent_date": None}
    saved = await api.put(url, json=first_tab, headers={"If-Match": etag})
    assert saved.status_code == 200 and saved.headers["etag"] != etag
    stale = await api.put(url, json=second_tab, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(url)).json()["settings"] == first_tab, "the first tab's change stands"
    fresh = await api.put(url, json=second_tab, headers={"If-Match": saved.headers["etag"]})
    assert fresh.status_code == 200 and fresh.json()["settings"]["attribution_window_days"] == 7


@pytest.mark.parametrize(
    "update",
    [
        {"attribution_window_days": 0, "model": "ALL_EVENTS"},
        {"attribution_window_days": 14, "model": "all events"},
        {"attribution_window_days": 14, "model": "ALL_EVENTS", "email_sent_date": "June 1st"},
        {"model": "ALL_EVENTS"},
    ],
)
async def test_evaluation_put_validates(api, sim, partner, update):
    package = await make_package(sim, partner, "DONE")
    response = await api.put(f"/v1/packages/{package['id']}/evaluation", json=update)
    assert response.status_code == 422


async def test_evaluation_of_a_building_package_keeps_the_upstream_409(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS")
    response = await api.get(f"/v1/packages/{package['id']}/evaluation")
    assert response.status_code == 409


async def test_an_upstream_422_is_relayed_with_its_field_details(api, sim, partner):
    body = (
        '{"detail": [{"loc": ["body", "filters", "exclude_ticket_categories", 0], '
        '"msg": "unknown ticket category", "type": "value_error"}]}'
    )
    await add_fault(sim, "create_package", partner, status=422, count=1, body=body)
    response = await api.post("/v1/packages", json=create_body())
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [
        {
            "loc": ["upstream", "body", "filters", "exclude_ticket_categories", "0"],
            "field": "upstream.body.filters.exclude_ticket_categories.0",
            "message": "unknown ticket category",
            "type": "value_error",
        }
    ]
    assert "unknown ticket category" in problem["detail"]

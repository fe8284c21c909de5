"""The API's Prometheus metrics: upstream calls by route template, cache hits/misses/fills,
open event streams and idempotency replays, with no raw ids in any label."""

from __future__ import annotations

import asyncio
import re
import uuid

from app.observability.metrics import upstream_route
from tests.support.metrics import Samples, leaks, samples, value
from tests.support.processes import ROOT
from tests.support.sim import make_package
from tests.support.sse import STREAM_TIMEOUT, EventReader, expect_stream

CREATE = {"title": "Metrics", "event_ids": [12345], "targeting_mode": "lookalike"}


async def scrape(client) -> Samples:
    return samples((await client.get("/metrics")).text)


def test_upstream_paths_become_bounded_templates():
    assert upstream_route("/package_builder/packages/") == "/package_builder/packages/"
    assert upstream_route("/package_builder/packages/8812") == "/package_builder/packages/{package_id}"
    assert (
        upstream_route("/package_builder/packages/8812/AC%2FDC%20fans/customer_list")
        == "/package_builder/packages/{package_id}/{tc}/customer_list"
    )
    assert upstream_route("/package_builder/packages/merge") == "/package_builder/packages/merge"
    assert upstream_route("/package_builder/packages/8812/surprise/deeper/path") == "other"
    assert upstream_route("/anything/else") == "other"


async def test_upstream_calls_are_counted_by_template_and_status_class(api, api_metrics, sim, partner):
    package = await make_package(sim, partner, "DONE")
    before = await scrape(api_metrics)
    assert (await api.get(f"/v1/packages/{package['id']}/status")).status_code == 200
    assert (await api.get("/v1/packages/999999999/status")).status_code == 404
    after = await scrape(api_metrics)
    route = "/package_builder/packages/{package_id}"
    name = "bff_upstream_requests_total"
    for status_class in ("2xx", "4xx"):
        grown = value(after, name, route=route, method="GET", status_class=status_class) - value(
            before, name, route=route, method="GET", status_class=status_class
        )
        assert grown >= 1, status_class
    histogram = "bff_upstream_request_duration_seconds_count"
    assert value(after, histogram, route=route, method="GET") > value(
        before, histogram, route=route, method="GET"
    )
    text = (await api_metrics.get("/metrics")).text
    assert not leaks(text, package["id"], partner)


async def test_cache_reads_count_misses_fills_and_hits(api, api_metrics, sim, partner):
    package = await make_package(sim, partner, "DONE")
    before = await scrape(api_metrics)
    for _ in range(2):
        assert (await api.get(f"/v1/packages/{package['id']}/evaluation")).status_code == 200
    after = await scrape(api_metrics)
    for outcome in ("miss", "fill", "hit"):
        grown = value(after, "bff_cache_total", cache="evaluation", outcome=outcome) - value(
            before, "bff_cache_total", cache="evaluation", outcome=outcome
        )
        assert grown >= 1, outcome


async def test_open_event_streams_are_a_gauge(api, api_metrics, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS")
    idle = value(await scrape(api_metrics), "bff_sse_streams_open")
    async with api.stream("GET", f"/v1/packages/{package['id']}/events", timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        reader = EventReader(response)
        assert (await reader.event()).json()["status"] == "INPROGRESS"
        assert value(await scrape(api_metrics), "bff_sse_streams_open") == idle + 1
    deadline = asyncio.get_running_loop().time() + 10
    while value(await scrape(api_metrics), "bff_sse_streams_open") != idle:
        assert asyncio.get_running_loop().time() < deadline, "the closed stream was not counted down"
        await asyncio.sleep(0.05)


async def test_an_idempotent_replay_is_counted(api, api_metrics, partner):
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    assert (await api.post("/v1/packages", json=CREATE, headers=headers)).status_code == 202
    before = value(await scrape(api_metrics), "bff_idempotency_replays_total", scope="create")
    replay = await api.post("/v1/packages", json=CREATE, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert value(await scrape(api_metrics), "bff_idempotency_replays_total", scope="create") == before + 1


def test_the_grafana_dashboard_uses_only_metrics_the_services_expose():
    from prometheus_client.metrics import MetricWrapperBase

    from app.observability import metrics

    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    exposed = {
        family.name + suffix
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
        for suffix in suffixes[family.type]
    }
    text = (ROOT / "deploy" / "grafana" / "bff-dashboard.json").read_text()
    used = set(re.findall(r"\bbff_[a-z_]+", text))
    assert used and used <= exposed, sorted(used - exposed)


async def test_metrics_are_not_served_on_the_public_port(anonymous, auth_headers):
    assert (await anonymous.get("/metrics")).status_code == 404
    assert (await anonymous.get("/metrics", headers=auth_headers)).status_code == 404


async def test_unusual_methods_do_not_make_series(anonymous, api_metrics):
    """Methods the HTTP parser knows but the API never serves share one ``other`` label."""
    names = ["PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "PURGE", "REPORT", "SEARCH", "TRACE"]
    before = samples((await api_metrics.get("/metrics")).text)
    answers = [(await anonymous.request(name, "/v1/packages")).status_code for name in names]
    assert all(400 <= status < 500 for status in answers), answers
    text = (await api_metrics.get("/metrics")).text
    assert not any(f'method="{name}"' in text for name in names)
    labels = {"method": "other", "route": "/v1/packages"}
    after = samples(text)
    counted = sum(
        value(after, "bff_http_requests_total", **labels, status=str(status))
        - value(before, "bff_http_requests_total", **labels, status=str(status))
        for status in set(answers)
    )
    assert counted == len(names)

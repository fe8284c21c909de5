"""Liveness, readiness, metrics, and settings that stop a process with one clear line."""

from __future__ import annotations

import httpx
import pytest

from app.kit.settings import SettingsError, load_settings
from tests.support.processes import ApiServer, free_port, refusal


async def test_healthz_and_readyz_when_everything_answers(anonymous):
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
    ready = await anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "upstream": "ok"}


async def test_readyz_stays_200_without_the_upstream_and_reports_it_down(bff_env):
    api = ApiServer(
        "api-no-upstream", {**bff_env, "BFF_UPSTREAM_URL": f"http://127.0.0.1:{free_port()}"}
    ).start()
    try:
        async with httpx.AsyncClient(base_url=api.url) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "upstream": "down"}}
            assert (await client.get("/healthz")).status_code == 200
    finally:
        api.close()


async def test_metrics_count_requests_by_route_template(api, api_metrics):
    await api.get("/v1/packages/12345/status")
    text = (await api_metrics.get("/metrics")).text
    assert 'route="/v1/packages/{package_id}/status"' in text
    assert "/v1/packages/12345/status" not in text


@pytest.mark.parametrize(
    ("command", "variable", "bad"),
    [("api", "BFF_POLL_INTERVAL_S", "soon"), ("worker", "BFF_WEBHOOK_RETRY_SCHEDULE", "5,-1")],
)
def test_a_bad_setting_stops_the_process_with_one_line_naming_it(command, variable, bad):
    args = [command, "--port", str(free_port())] if command == "api" else [command]
    line = refusal(*args, env={variable: bad})
    assert variable in line, line


@pytest.mark.parametrize(
    ("variable", "bad"),
    [
        ("BFF_LOG_FORMAT", "xml"),
        ("BFF_WORKER_METRICS_PORT", "70000"),
        ("BFF_REDIS_SENTINELS", "127.0.0.1:26379,sentinel-b"),
        ("BFF_REDIS_SENTINEL_MASTER", ""),
    ],
)
def test_a_bad_operations_setting_is_refused_naming_it(monkeypatch, variable, bad):
    monkeypatch.setenv(variable, bad)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert variable in str(refused.value)


def test_sentinels_are_read_as_host_port_pairs(monkeypatch):
    monkeypatch.setenv("BFF_REDIS_SENTINELS", "10.0.0.1:26379, sentinel-b.internal:26380")
    assert load_settings().sentinel_addresses == [("10.0.0.1", 26379), ("sentinel-b.internal", 26380)]

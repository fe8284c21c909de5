"""Liveness, readiness, metrics, and settings that stop a process with one clear line."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.support.processes import ROOT, ApiServer, free_port


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


async def test_metrics_count_requests_by_route_template(api, anonymous):
    await api.get("/v1/packages/12345/status")
    text = (await anonymous.get("/metrics")).text
    assert 'route="/v1/packages/{package_id}/status"' in text
    assert "/v1/packages/12345/status" not in text


def _start_with(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env={**env, "PATH": "/usr/bin:/bin"}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_bad_setting_stops_the_api_with_one_line_naming_it():
    result = _start_with(
        [sys.executable, "-m", "app", "api", "--port", str(free_port())], {"BFF_POLL_INTERVAL_S": "soon"}
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "BFF_POLL_INTERVAL_S" in lines[0], result.stderr


def test_bad_setting_stops_the_worker_with_one_line_naming_it():
    result = _start_with([sys.executable, "-m", "app", "worker"], {"BFF_WEBHOOK_RETRY_SCHEDULE": "5,-1"})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "BFF_WEBHOOK_RETRY_SCHEDULE" in lines[0], result.stderr

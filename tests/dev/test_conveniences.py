"""What only the dev stack turns on (CORS for local origins, webhooks to loopback receivers,
metrics on loopback) stays off in production settings; under ``make run`` it works, as do
``python -m app listen`` and the refusal of a second stack."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from app.dev.stack import dev_environment
from app.kit.settings import Settings
from app.webhooks import ssrf
from tests.support.devstack import dev_stack
from tests.support.processes import ROOT, free_port


def test_production_defaults_keep_every_dev_convenience_off(monkeypatch, tmp_path):
    for name in [name for name in os.environ if name.startswith("BFF_")]:
        monkeypatch.delenv(name)
    production = Settings()
    assert production.cors_origins == [] and production.cors_origin_regex is None
    assert production.webhook_allow_private_targets is False
    assert production.api_metrics_host == production.worker_metrics_host == "0.0.0.0"  # for the scraper

    dev = Settings.model_validate(
        {
            name.removeprefix("BFF_").lower(): value
            for name, value in dev_environment(
                {}, api_port=8000, simulator_port=8081, data_dir=tmp_path
            ).items()
            if name.startswith("BFF_")
        }
    )
    assert dev.cors_origin_regex and dev.webhook_allow_private_targets
    assert dev.api_metrics_host == dev.worker_metrics_host == "127.0.0.1"


async def test_a_refused_private_target_names_the_setting_and_that_it_is_dev_only():
    problem = await ssrf.target_problem("http://127.0.0.1:9000/hook")
    assert (
        problem is not None and "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS=true" in problem and "dev-only" in problem
    )


class Listener:
    """``python -m app listen`` as a child process, its output read line by line."""

    def __init__(self, api_url: str, data_dir: Path) -> None:
        argv = [sys.executable, "-m", "app", "listen", "--api", api_url, "--data-dir", str(data_dir)]
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def expect(self, text: str) -> str:
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=30)
            except queue.Empty:
                raise AssertionError(f"no line with {text!r}: {''.join(seen)}") from None
            seen.append(line)
            if text in line:
                return line


def _second_stack(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app", "dev", *argv]
    env = {"PATH": "/usr/bin:/bin"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


def test_under_make_run_local_origins_loopback_receivers_and_listen_work_and_a_second_stack_refuses(
    tmp_path,
):
    with dev_stack(tmp_path / "first") as (stack, headers):
        api = httpx.Client(base_url=f"http://127.0.0.1:{stack.api_port}", headers=headers, timeout=30)
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        for origin in ("http://localhost:5173", "http://127.0.0.1:3000"):
            answer = api.options("/v1/packages", headers={**preflight, "Origin": origin})
            assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == origin
        foreign = api.options(
            "/v1/packages", headers={**preflight, "Origin": "http://localhost.evil.example"}
        )
        assert "access-control-allow-origin" not in foreign.headers

        listener = Listener(str(api.base_url), tmp_path / "first")
        try:
            endpoint = listener.expect("  endpoint ep_").split()[1].rstrip(",")
            assert api.post(f"/v1/webhooks/{endpoint}/test").status_code == 202
            assert listener.expect("webhook.test").rstrip().endswith("verified")
            listener.process.send_signal(signal.SIGINT)
            assert "(204)" in listener.expect(f"endpoint {endpoint} removed")
            assert listener.process.wait(timeout=30) == 0
        finally:
            if listener.process.poll() is None:
                listener.process.kill()
        assert endpoint not in [item["id"] for item in api.get("/v1/webhooks").json()["items"]]

        same_port = _second_stack("--port", str(stack.api_port), "--data-dir", str(tmp_path / "second"))
        assert same_port.returncode == 1 and "running" not in same_port.stdout
        assert f"port {stack.api_port}" in same_port.stderr and "-m app api" in same_port.stderr, (
            same_port.stderr
        )
        same_data = _second_stack("--port", "1", "--data-dir", str(tmp_path / "first"))
        assert same_data.returncode == 1 and "a dev stack already runs on" in same_data.stderr, (
            same_data.stderr
        )
        assert (
            f"pid {stack.process.pid} " in same_data.stderr
            and f"API port {stack.api_port}" in same_data.stderr
        )
        assert api.get("/healthz").status_code == 200, "the running stack is untouched"


def test_with_no_redis_to_use_or_start_the_dev_stack_says_how_to_get_one(tmp_path):
    argv = [sys.executable, "-m", "app", "dev", "--port", str(free_port()), "--data-dir", str(tmp_path)]
    env = {"PATH": str(tmp_path), "BFF_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # no redis-server
    ended = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert ended.returncode == 1 and "running" not in ended.stdout
    assert "redis-server is not on PATH" in ended.stderr and "BFF_REDIS_URL" in ended.stderr

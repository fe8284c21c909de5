"""A private stack for benchmarks: redis-server, simulator, API (and worker) on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth.tokens import issue_token  # noqa: E402
from tests.support.processes import (  # noqa: E402
    ManagedProcess,
    RedisServer,
    free_port,
    python_module,
)

SECRET = "bench-secret-" + "x" * 32


@dataclass
class Stack:
    api_url: str
    sim_url: str
    redis_url: str
    api: ManagedProcess
    processes: list[ManagedProcess] = field(default_factory=list)
    api_metrics_url: str = ""  # the API's /metrics port (never the public one)

    def headers(self, partner: str) -> dict[str, str]:
        token = issue_token(SECRET, sub="bench", partners=[partner])
        return {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def stack(
    *,
    workers: int = 0,
    extra_env: dict[str, str] | None = None,
    sim_env: dict[str, str] | None = None,
    wrap: Callable[[str, list[str]], list[str]] | None = None,
) -> Iterator[Stack]:
    """``wrap(name, argv)`` may change how a process is started (bench/_traced.py)."""
    launch = wrap or (lambda name, argv: argv)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    redis = RedisServer(free_port(), data_dir).start()
    sim_port, api_port, metrics_port = free_port(), free_port(), free_port()
    sim = ManagedProcess(
        "bench-sim",
        python_module("app", "simulator", "--port", str(sim_port)),
        env={"SIM_BUILD_SECONDS": "3600", **(sim_env or {})},
        port=sim_port,
    ).start()
    env = {
        "BFF_UPSTREAM_URL": f"http://127.0.0.1:{sim_port}",
        "BFF_DATA_INTEGRATIONS_URL": f"http://127.0.0.1:{sim_port}",
        "BFF_REDIS_URL": redis.url,
        "BFF_JWT_SECRET": SECRET,
        "BFF_UPSTREAM_SERVICE_TOKEN": "bench-service",
        "BFF_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "BFF_API_METRICS_PORT": str(metrics_port),
        "BFF_WORKER_METRICS_PORT": "0",
        # The per-partner limiter runs on every request (its cost is measured), at a limit
        # above what a benchmark sends (so nothing is refused): leases of 500 tokens.
        "BFF_RATE_LIMIT_RPS": "5000",
        "BFF_RATE_LIMIT_BURST": "10000",
        **(extra_env or {}),
    }
    api = ManagedProcess(
        "bench-api",
        launch(
            "bench-api",
            python_module(
                "app",
                "api",
                "--port",
                str(api_port),
                "--log-level",
                os.environ.get("BENCH_LOG_LEVEL", "info"),
            ),
        ),
        env=env,
        port=api_port,
    ).start()
    processes = [api, sim, redis]
    # Workers come first in ``processes``: bench-worker, bench-worker-2, ...
    for index in range(workers, 0, -1):
        name = "bench-worker" if index == 1 else f"bench-worker-{index}"
        processes.insert(
            0, ManagedProcess(name, launch(name, python_module("app", "worker")), env=env).start()
        )
    try:
        yield Stack(
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{sim_port}",
            redis.url,
            api,
            processes,
            api_metrics_url=f"http://127.0.0.1:{metrics_port}",
        )
    finally:
        for process in processes:
            process.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def env_flag(name: str, default: str) -> str:
    return os.environ.get(name, default)


def timed() -> float:
    return time.perf_counter()

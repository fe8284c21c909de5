"""``arq --check`` (the worker pods' probes, deploy/) answers for the workers of its own host:
a stopped worker fails its pod's probe even while the other replicas are healthy. Checks
storage: the health key, which arq writes and reads, is the contract."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

from app.worker import keys as worker_keys
from app.worker.settings import WorkerSettings
from tests.builds.support import wait_until
from tests.support.processes import ROOT


def test_the_health_check_key_names_the_host() -> None:
    assert WorkerSettings.health_check_key == worker_keys.worker_health(socket.gethostname())


async def test_arq_check_passes_only_while_a_worker_of_this_host_runs(private_env, store, start_worker):
    here = worker_keys.worker_health(socket.gethostname())
    await store.delete(here)  # a worker SIGKILLed by an earlier test may have left it
    await store.set(worker_keys.worker_health("another-pod"), "j_complete=1", px=60_000)

    def check() -> int:
        argv = [sys.executable, "-m", "arq", "--check", "app.worker.WorkerSettings"]
        env = {**os.environ, **private_env}
        return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=60).returncode

    assert await asyncio.to_thread(check) == 1  # another pod's worker is no health of this one
    worker = start_worker()

    async def recorded() -> bool:
        return bool(await store.exists(here))

    await wait_until(recorded, what="this host's worker recording its health")
    assert await asyncio.to_thread(check) == 0
    await asyncio.to_thread(worker.stop)  # a graceful stop deletes its key
    assert await asyncio.to_thread(check) == 1

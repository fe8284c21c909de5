"""The worker runs on uvloop. arq takes whatever event loop is current when its Worker is
made, so ``run_resilient_worker`` must set one first; this fails if arq starts choosing."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from app.worker import run as resilient_worker
from app.worker.settings import WorkerSettings


def test_the_worker_runs_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    monkeypatch.setattr(WorkerSettings, "handle_signals", False, raising=False)  # pytest's stay
    monkeypatch.setattr(resilient_worker.ResilientWorker, "run", lambda worker: loops.append(worker.loop))
    resilient_worker.run_resilient_worker(WorkerSettings)
    [loop] = loops
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
        asyncio.set_event_loop(None)

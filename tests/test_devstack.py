"""`python -m app dev` (what `make run` starts): the whole stack, a token, a child that dies
restarted while the rest keep running, and a clean stop of every child on Ctrl-C (SIGTERM
takes the same path)."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx

from tests.support.devstack import DevStack, dev_stack


def statuses_until_the_end(stack: DevStack, headers: dict[str, str]) -> list[str]:
    """Create a package and follow its events (fed by the worker's polls) to the end."""
    created = httpx.post(
        f"http://127.0.0.1:{stack.api_port}/v1/packages",
        headers=headers,
        json={"title": "dev check", "event_ids": [12345], "targeting_mode": "lookalike"},
    )
    assert created.status_code == 202, created.text
    statuses: list[str] = []
    give_up = time.monotonic() + 30
    with httpx.stream("GET", created.json()["events_url"], headers=headers, timeout=30) as stream:
        assert stream.status_code == 200, stream.read()
        for line in stream.iter_lines():
            if line.startswith("data:"):
                statuses.append(json.loads(line[5:])["status"])
            if time.monotonic() > give_up:  # heartbeats every second get us here
                break
    return statuses


def assert_all_gone(stack: DevStack) -> None:
    for pid in stack.all_pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"child {pid} outlived the stack:\n{''.join(stack.output)}")
    try:
        httpx.get(f"http://127.0.0.1:{stack.api_port}/healthz", timeout=0.5)
    except httpx.TransportError:
        return
    raise AssertionError("the API kept running after the stack stopped")


def test_dev_stack_restarts_a_dead_worker_and_stops_everything_on_ctrl_c(tmp_path):
    with dev_stack(tmp_path) as (stack, headers):
        assert set(stack.pids) == {"redis", "simulator", "api", "worker"}
        response = httpx.get(f"http://127.0.0.1:{stack.api_port}/v1/packages", headers=headers)
        assert response.status_code == 200
        assert response.json()["items"], "the simulator seeds demo packages for a new partner"
        first_worker = stack.pids["worker"]
        os.kill(first_worker, signal.SIGKILL)
        stack.expect(r"dev: worker exited")
        stack.expect(r"dev: worker started")
        assert stack.pids["worker"] != first_worker
        statuses = statuses_until_the_end(stack, headers)  # polled by the new worker
        assert statuses and statuses[-1] == "DONE", statuses
        api_pid = stack.pids["api"]
        assert stack.stop(signal.SIGINT) == 0
        assert stack.pids["api"] == api_pid, "the API kept running while the worker was restarted"
    assert "did not stop in time" not in "".join(stack.output)
    assert_all_gone(stack)


def test_killing_the_process_that_started_the_stack_stops_the_whole_stack(tmp_path):
    """``make run`` killed (even SIGKILL: make passes no signal on) leaves no process behind."""
    with dev_stack(tmp_path, under_shell=True) as (stack, _):
        assert set(stack.pids) == {"redis", "simulator", "api", "worker"}
        stack.process.kill()  # the shell, as make would be
        stack.expect("the process that started the stack is gone")
        assert stack.closed.wait(timeout=60), "".join(stack.output)
    assert_all_gone(stack)

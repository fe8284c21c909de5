"""`python -m app dev` (what `make run` starts): the whole stack, a token, a child that dies
restarted while the rest keep running, and a clean stop of every child on Ctrl-C (SIGTERM
takes the same path)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.processes import ROOT, free_port, wait_for_port


class DevStack:
    """The stack as a child process; its output is read all along (a full pipe would block
    the children that share it), and ``expect`` waits for a line."""

    def __init__(self) -> None:
        self.api_port, self.sim_port = free_port(), free_port()
        # Nothing answers at this URL, so the stack starts its own redis-server: a stack of
        # its own, which the suite's worker (on the suite's Redis) cannot interfere with.
        env = {
            "PATH": "/usr/bin:/bin",
            "BFF_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "BFF_WORKER_METRICS_PORT": "0",
            "SIM_BUILD_SECONDS": "1",
            "BFF_POLL_INTERVAL_S": "0.3",
            "BFF_SSE_HEARTBEAT_S": "1",
        }
        argv = [sys.executable, "-m", "app", "dev", "--port", str(self.api_port)]
        self.process = subprocess.Popen(
            [*argv, "--simulator-port", str(self.sim_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.pids: dict[str, int] = {}
        self.all_pids: set[int] = set()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def expect(self, pattern: str, deadline_s: float = 30) -> re.Match[str]:
        """The first line from now on that matches; child starts seen on the way are noted."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}:\n{''.join(self.output)}") from None
            if started := re.match(r"dev: (\w+) started \(pid (\d+)\)", line):
                self.pids[started.group(1)] = int(started.group(2))
                self.all_pids.add(int(started.group(2)))
            if match := re.search(pattern, line):
                return match

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@contextmanager
def dev_stack() -> Iterator[tuple[DevStack, dict[str, str]]]:
    stack = DevStack()
    try:
        partner = stack.expect(r"^\s+partner\s+(\S+)").group(1)
        token = stack.expect(r"^\s+token\s+(\S+)").group(1)
        stack.expect("Ctrl-C")
        wait_for_port(stack.api_port)
        yield stack, {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    finally:
        if stack.process.poll() is None:
            stack.process.kill()


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


def test_dev_stack_restarts_a_dead_worker_and_stops_everything_on_ctrl_c():
    with dev_stack() as (stack, headers):
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

"""`python -m app dev` (what `make run` starts): the whole stack, a token, and a clean stop."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.support.processes import ROOT, free_port, wait_for_port


def test_dev_stack_serves_the_api_with_the_printed_token_and_stops_on_ctrl_c():
    api_port, sim_port = free_port(), free_port()
    # Nothing answers at this URL, so the stack starts its own redis-server: a stack of
    # its own, which the suite's worker (on the suite's Redis) cannot interfere with.
    env = {
        "PATH": "/usr/bin:/bin",
        "BFF_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SIM_BUILD_SECONDS": "1",
        "BFF_POLL_INTERVAL_S": "0.3",
        "BFF_SSE_HEARTBEAT_S": "1",
    }
    stack = subprocess.Popen(
        [sys.executable, "-m", "app", "dev", "--port", str(api_port), "--simulator-port", str(sim_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token = partner = None
        assert stack.stdout is not None
        for line in stack.stdout:  # the banner comes once everything listens
            if match := re.match(r"\s+token\s+(\S+)", line):
                token = match.group(1)
            if match := re.match(r"\s+partner\s+(\S+)", line):
                partner = match.group(1)
            if "Ctrl-C" in line:
                break
        assert token and partner
        wait_for_port(api_port)
        headers = {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
        response = httpx.get(f"http://127.0.0.1:{api_port}/v1/packages", headers=headers)
        assert response.status_code == 200
        assert response.json()["items"], "the simulator seeds demo packages for a new partner"
        created = httpx.post(
            f"http://127.0.0.1:{api_port}/v1/packages",
            headers=headers,
            json={"title": "dev check", "event_ids": [12345], "targeting_mode": "lookalike"},
        )
        assert created.status_code == 202, created.text
        events_url = created.json()["events_url"]
        statuses: list[str] = []
        give_up = time.monotonic() + 30
        with httpx.stream("GET", events_url, headers=headers, timeout=30) as stream:
            for line in stream.iter_lines():  # the worker's polls arrive as SSE events
                if line.startswith("data:"):
                    statuses.append(json.loads(line[5:])["status"])
                if time.monotonic() > give_up:  # heartbeats every second get us here
                    break
        assert statuses and statuses[-1] == "DONE", statuses
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=0.5)
        except httpx.HTTPError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the API kept running after Ctrl-C")

"""`python -m app dev` (what `make run` starts): the whole stack, a token, and a clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx

from tests.support.processes import ROOT, free_port, wait_for_port


def test_dev_stack_serves_the_api_with_the_printed_token_and_stops_on_ctrl_c(redis_server):
    api_port, sim_port = free_port(), free_port()
    env = {"PATH": "/usr/bin:/bin", "BFF_REDIS_URL": redis_server.url}
    stack = subprocess.Popen(
        [sys.executable, "-m", "app", "dev", "--port", str(api_port),
         "--simulator-port", str(sim_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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

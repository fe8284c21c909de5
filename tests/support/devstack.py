"""``python -m app dev`` as a child process, for the tests of the dev stack."""

from __future__ import annotations

import json
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.webhooks.signing import sign
from tests.support.processes import ROOT, free_port, wait_for_port


class DevStack:
    """The stack as a child process; its output is read all along (a full pipe would block
    the children that share it), and ``expect`` waits for a line."""

    def __init__(
        self,
        data_dir: Path,
        *,
        redis_port: int | None = None,
        api_port: int | None = None,
        under_shell: bool = False,
    ) -> None:
        self.api_port, self.sim_port = api_port or free_port(), free_port()
        self.data_dir = data_dir
        # Nothing answers at this URL, so the stack starts its own redis-server: a stack of
        # its own, which the suite's worker (on the suite's Redis) cannot interfere with.
        env = {
            "PATH": "/usr/bin:/bin",
            "BFF_REDIS_URL": f"redis://127.0.0.1:{redis_port or free_port()}/0",
            "BFF_WORKER_METRICS_PORT": "0",
            "BFF_API_METRICS_PORT": "0",
            "SIM_BUILD_SECONDS": "1",
            "BFF_POLL_INTERVAL_S": "0.3",
            "BFF_SSE_HEARTBEAT_S": "1",
        }
        argv = [sys.executable, "-m", "app", "dev", "--port", str(self.api_port), "--data-dir", str(data_dir)]
        argv += ["--simulator-port", str(self.sim_port)]
        if under_shell:  # as `make run` starts it: a shell stays its parent
            argv = ["/bin/sh", "-c", shlex.join(argv) + "; exit $?"]
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.closed = threading.Event()  # every process that shares the output has ended
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.pids: dict[str, int] = {}
        self.all_pids: set[int] = set()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.closed.set()

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
def dev_stack(data_dir: Path, **options: Any) -> Iterator[tuple[DevStack, dict[str, str]]]:
    """A started stack and the headers of its banner's token and partner; stopped (with its
    children) if left running."""
    stack = DevStack(data_dir, **options)
    try:
        partner = stack.expect(r"^\s+partner\s+(\S+)").group(1)
        token = stack.expect(r"^\s+token\s+(\S+)").group(1)
        stack.expect("Ctrl-C")
        wait_for_port(stack.api_port)
        yield stack, {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    finally:
        if stack.process.poll() is None:  # SIGTERM stops its children too; SIGKILL would not
            stack.process.terminate()
            try:
                stack.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stack.process.kill()


class HookReceiver:
    """A partner's webhook receiver on a free loopback port, in a thread of its own (a dev
    stack test blocks while it waits for lines); it records every delivery and answers 204."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        received = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()
                received.put(({name.lower(): value for name, value in self.headers.items()}, body))

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(
        self, event_type: str, package_id: str, secret: str, deadline_s: float = 60
    ) -> dict[str, Any]:
        """The first ``event_type`` delivery about ``package_id``, its signature checked."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                headers, body = self.deliveries.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {event_type} webhook for package {package_id}") from None
            event = json.loads(body)
            if event["type"] == event_type and event["data"].get("package_id") == package_id:
                expected = sign(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
                assert expected in headers["webhook-signature"].split(), "signature does not verify"
                return dict(event)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""``python -m app dev``: simulator + API + worker (+ a private Redis) for local work."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

DEV_PARTNER = "demo-partner"


def _redis_answers(url: str) -> bool:
    """PING over a plain socket, so this works before any client library is set up."""
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1
        ) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def run_dev_stack(*, api_port: int, simulator_port: int) -> int:
    env = dict(os.environ)
    env.setdefault("BFF_JWT_SECRET", secrets.token_urlsafe(32))
    # The worker polls with its own token; the simulator accepts any bearer token.
    env.setdefault("BFF_UPSTREAM_SERVICE_TOKEN", "dev-service-" + secrets.token_urlsafe(16))
    env.setdefault("BFF_UPSTREAM_URL", f"http://127.0.0.1:{simulator_port}")
    env.setdefault("BFF_DATA_INTEGRATIONS_URL", env["BFF_UPSTREAM_URL"])
    env.setdefault("BFF_LINK_SIGNING_KEY", secrets.token_urlsafe(32))
    env.setdefault("BFF_PUBLIC_URL", f"http://127.0.0.1:{api_port}")
    env.setdefault("SIM_PORT", str(simulator_port))
    redis_url = env.setdefault("BFF_REDIS_URL", "redis://127.0.0.1:6379/0")
    children: list[subprocess.Popen[bytes]] = []
    py = sys.executable

    if not _redis_answers(redis_url):
        binary = shutil.which("redis-server")
        if binary is None:
            print(f"no Redis answers at {redis_url} and redis-server is not on PATH", file=sys.stderr)
            return 1
        port = _free_port()
        data_dir = Path(".dev-redis")
        data_dir.mkdir(exist_ok=True)
        children.append(
            subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--dir",
                    str(data_dir.resolve()),
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        redis_url = env["BFF_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        _wait_for_port(port)

    children.append(subprocess.Popen([py, "-m", "app", "simulator", "--port", str(simulator_port)], env=env))
    children.append(subprocess.Popen([py, "-m", "app", "api", "--port", str(api_port)], env=env))
    children.append(subprocess.Popen([py, "-m", "app", "worker"], env=env))
    try:
        if not (_wait_for_port(simulator_port) and _wait_for_port(api_port)):
            print("the stack did not come up; see the logs above", file=sys.stderr)
            return 1
        token = subprocess.run(
            [py, "-m", "app", "token", "--sub", "dev-user", "--partner", DEV_PARTNER],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(
            f"""
Package Builder BFF is running.
  API        http://127.0.0.1:{api_port}   (docs: http://127.0.0.1:{api_port}/docs)
  simulator  http://127.0.0.1:{simulator_port}
  redis      {redis_url}
  partner    {DEV_PARTNER}
  token      {token}

  curl -H "Authorization: Bearer {token}" -H "X-Preferred-Partner-Id: {DEV_PARTNER}" \\
       http://127.0.0.1:{api_port}/v1/packages

Ctrl-C stops everything.""",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a process of the stack exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

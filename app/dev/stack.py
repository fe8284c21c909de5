"""``python -m app dev``: simulator + API + worker (+ a private Redis) for local work.

A small supervisor: a child that dies is restarted with backoff (the rest keep running);
SIGINT/SIGTERM are passed on to every child as one SIGTERM, and it waits for them all.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from app.dev.holder import StackLock, describe_holder, port_is_free
from app.dev.identity import DATA_DIR, dev_secrets

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


def _wait_for_port(port: int, stop: list[int], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@dataclass
class Child:
    """One process of the stack, restarted with backoff when it dies."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    quiet: bool = False  # output discarded (Redis)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # deaths in a row, each soon after its start
    restart_at: float | None = None

    def start(self) -> None:
        # A session of its own: a terminal's Ctrl-C reaches the supervisor only, which
        # then stops each child once (a second SIGINT would make uvicorn force-quit).
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=subprocess.DEVNULL if self.quiet else None,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        print(f"dev: {self.name} started (pid {self.process.pid})", file=sys.stderr, flush=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def look_after(self, now: float) -> None:
        """Restart a dead child once its backoff delay has passed."""
        if self.running():
            return
        if self.restart_at is None:
            if now - self.started_at > STABLE_AFTER_S:
                self.failures = 0
            delay = min(RESTART_CAP_S, RESTART_FIRST_S * 2**self.failures)
            self.failures += 1
            code = self.process.returncode if self.process else None
            print(
                f"dev: {self.name} exited ({code}); restarting in {delay:.1f} s", file=sys.stderr, flush=True
            )
            self.restart_at = now + delay
        elif now >= self.restart_at:
            self.start()


RESTART_FIRST_S = 0.5
RESTART_CAP_S = 30.0
STABLE_AFTER_S = 30.0  # a child that ran this long starts its backoff over
STOP_TIMEOUT_S = 20.0  # above the API's and the worker's own grace periods


def _stop(children: list[Child]) -> None:
    """SIGTERM to every child that runs, then wait for all of them; SIGKILL stragglers."""
    for child in children:
        if child.running():
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"dev: {child.name} did not stop in time; killed", file=sys.stderr, flush=True)
            child.process.kill()
            child.process.wait()


DEV_CORS_ORIGINS = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"
NO_REDIS = """no Redis answers at {url} and redis-server is not on PATH.
Install Redis (apt-get install redis-server, brew install redis) and run make run again:
it then starts a private one, kept in {data_dir}/. Or start one yourself
(docker run -d -p 127.0.0.1:6379:6379 redis:7) and set BFF_REDIS_URL if it is not {url}."""


def dev_environment(
    environ: dict[str, str], *, api_port: int, simulator_port: int, data_dir: Path
) -> dict[str, str]:
    """The variables every child gets: the kept secrets, and the dev-only conveniences
    (CORS for local origins, webhooks to loopback receivers, metrics on loopback, a
    simulator that keeps its state). A variable already set wins."""
    env = dict(environ)
    env.update(dev_secrets(data_dir, environ))
    env.setdefault("BFF_UPSTREAM_URL", f"http://127.0.0.1:{simulator_port}")
    env.setdefault("BFF_DATA_INTEGRATIONS_URL", env["BFF_UPSTREAM_URL"])
    env.setdefault("BFF_PUBLIC_URL", f"http://127.0.0.1:{api_port}")
    env.setdefault("BFF_LOG_FORMAT", "text")  # a terminal's reader; JSON is for collectors
    env.setdefault("BFF_CORS_ORIGIN_REGEX", DEV_CORS_ORIGINS)
    env.setdefault("BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    env.setdefault("BFF_API_METRICS_HOST", "127.0.0.1")
    env.setdefault("BFF_WORKER_METRICS_HOST", "127.0.0.1")
    env.setdefault("SIM_PORT", str(simulator_port))
    env.setdefault("SIM_STATE_FILE", str((data_dir / "simulator.json").resolve()))
    env.setdefault("BFF_REDIS_URL", "redis://127.0.0.1:6379/0")
    return env


def refusal(*, api_port: int, simulator_port: int, lock: StackLock) -> str | None:
    """Why this stack must not start: another one uses its data directory or a port is taken."""
    holder = lock.acquire(api_port=api_port, simulator_port=simulator_port)
    if holder is not None:
        pid, command = holder.get("pid", "?"), holder.get("command", "?")
        return (
            f"dev: a dev stack already runs on {lock.path.parent}/: pid {pid} ({command}), "
            f"API port {holder.get('api_port', '?')}, simulator port {holder.get('simulator_port', '?')}; "
            f"use it, or stop it first (Ctrl-C in its terminal, or kill {pid})"
        )
    for name, port in (("API", api_port), ("simulator", simulator_port)):
        if not port_is_free(port):
            lock.release()
            return (
                f"dev: port {port} (the {name}'s) is taken by {describe_holder(port)}; stop it, or "
                f"pick other ports: python -m app dev --port P --simulator-port S"
            )
    return None


def run_dev_stack(*, api_port: int, simulator_port: int, data_dir: Path = DATA_DIR) -> int:
    lock = StackLock(data_dir)
    refused = refusal(api_port=api_port, simulator_port=simulator_port, lock=lock)
    if refused is not None:
        print(refused, file=sys.stderr, flush=True)
        return 1
    try:
        return _run(api_port=api_port, simulator_port=simulator_port, data_dir=data_dir)
    finally:
        lock.release()


def _run(*, api_port: int, simulator_port: int, data_dir: Path) -> int:
    env = dev_environment(
        dict(os.environ), api_port=api_port, simulator_port=simulator_port, data_dir=data_dir
    )
    redis_url = env["BFF_REDIS_URL"]
    py = sys.executable
    stop = _stop_on_signals()
    parent = os.getppid()

    redis: list[Child] = []
    if not _redis_answers(redis_url):
        binary = shutil.which("redis-server")
        if binary is None:
            print(NO_REDIS.format(url=redis_url, data_dir=data_dir), file=sys.stderr)
            return 1
        port = _free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--dir", str(data_dir.resolve())]
        redis.append(Child("redis", argv, quiet=True))
        redis_url = env["BFF_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    services = [
        Child("simulator", [py, "-m", "app", "simulator", "--port", str(simulator_port)], env),
        Child("api", [py, "-m", "app", "api", "--port", str(api_port)], env),
        Child("worker", [py, "-m", "app", "worker"], env),
    ]
    try:
        for child in [*redis, *services]:
            child.start()
        if not (_wait_for_port(simulator_port, stop) and _wait_for_port(api_port, stop)):
            if not stop:
                print("the stack did not come up; see the logs above", file=sys.stderr)
            return 0 if stop else 1
        _print_banner(env, py, api_port=api_port, simulator_port=simulator_port, data_dir=data_dir)
        while not stop:
            if os.getppid() != parent:  # make (or the shell) that started us was killed
                print(
                    "dev: the process that started the stack is gone; stopping", file=sys.stderr, flush=True
                )
                break
            now = time.monotonic()
            for child in [*redis, *services]:
                child.look_after(now)
            time.sleep(0.2)
        return 0
    finally:
        _stop(services)  # the services first, so that they can still reach Redis meanwhile
        _stop(redis)


def _stop_on_signals() -> list[int]:
    """SIGINT/SIGTERM end the stack: the list gets the signal (a flag the loops read)."""
    received: list[int] = []

    def handle(signum: int, frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return received


def _print_banner(
    env: dict[str, str], py: str, *, api_port: int, simulator_port: int, data_dir: Path
) -> None:
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
  redis      {env["BFF_REDIS_URL"]}
  partner    {DEV_PARTNER}
  token      {token}
  kept in    {data_dir}/   (secrets and simulator state: tokens and ids survive a restart)

  curl -H "Authorization: Bearer {token}" -H "X-Preferred-Partner-Id: {DEV_PARTNER}" \\
       http://127.0.0.1:{api_port}/v1/packages
  python -m app token --partner {DEV_PARTNER}     another token for this stack
  python -m app listen --partner {DEV_PARTNER}    see its webhooks, verified, as they arrive

A process that dies is restarted. Ctrl-C stops everything.""",
        flush=True,
    )

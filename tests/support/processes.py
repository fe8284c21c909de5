"""Real servers for tests: started on free 127.0.0.1 ports, stopped by their fixtures."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import redis

from deploy.image_commands import image_cmd, with_option

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout_s: float = 30.0, process: subprocess.Popen | None = None) -> None:
    """Block until something accepts on the port (or the process died)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s}s")


class ManagedProcess:
    """A child process with its output in a log file, shown when a test needs it."""

    url: str = ""  # where it listens, once whoever started it knows

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None, port: int | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.port = port
        self.log_path = Path(tempfile.mkstemp(prefix=f"bff-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.port is not None:
            wait_for_port(self.port, process=self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


class RedisServer(ManagedProcess):
    """A private redis-server; ``restart()`` keeps the port (and, with AOF, the data).
    ``fsync_always``: every write is on disk before Redis answers, so even a SIGKILL loses
    nothing a client was told had been written."""

    def __init__(self, port: int, data_dir: Path, *, fsync_always: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        super().__init__(
            "redis",
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
                "--appendfsync",
                "always" if fsync_always else "everysec",
                "--dir",
                str(data_dir),
            ],
            port=port,
        )
        self.url = f"redis://127.0.0.1:{port}/0"

    def restart(self) -> None:
        self.stop()
        self.start()


def api_launch(launcher: str, port: int, log_level: str) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of the API started by ``launcher`` on ``port``:

    - ``python -m app api``: ours;
    - ``uvicorn app.main:app``: uvicorn's CLI with no option at all (the port comes from its
      ``UVICORN_PORT`` variable), as docs/operations.md names it;
    - ``the image's CMD``: the Dockerfile's ``CMD`` as written, on loopback and ``port``
      (compose and Kubernetes run it unchanged).
    """
    if launcher == "python -m app api":
        return python_module("app", "api", "--port", str(port), "--log-level", log_level), {}
    if launcher == "uvicorn app.main:app":
        return [str(Path(sys.executable).with_name("uvicorn")), "app.main:app"], {"UVICORN_PORT": str(port)}
    if launcher == "the image's CMD":
        argv = with_option(with_option(image_cmd(), "--host", "127.0.0.1"), "--port", str(port))
        return [str(Path(sys.executable).with_name(argv[0])), *argv[1:]], {}
    raise ValueError(launcher)


API_LAUNCHERS = ("python -m app api", "uvicorn app.main:app", "the image's CMD")


class ApiServer(ManagedProcess):
    """The API on a free port, configured by ``BFF_*`` variables only; ``python -m app api``
    unless ``launcher`` names another of ``API_LAUNCHERS``."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        *,
        log_level: str = "warning",
        launcher: str = "python -m app api",
    ) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        metrics_port = env.get("BFF_API_METRICS_PORT") or str(free_port())
        self.metrics_url = f"http://127.0.0.1:{metrics_port}"  # /metrics: never on the public port
        argv, launch_env = api_launch(launcher, port, log_level)
        super().__init__(
            name,
            argv,
            env={"BFF_API_METRICS_PORT": metrics_port, **env, **launch_env, "BFF_PUBLIC_URL": self.url},
            port=port,
        )

    def close(self) -> None:
        """Stop, then check that whatever it was sent, it never reached its 500 handler."""
        self.stop()
        log = self.log()
        for marker in ("unhandled error", "Exception in ASGI application"):
            assert marker not in log, f"{self.name} answered 500:\n{log[-4000:]}"


# The two ways to start the worker: ours, and arq's own CLI on the same WorkerSettings.
WORKER_LAUNCHERS = {
    "python -m app worker": python_module("app", "worker"),
    "arq app.worker.WorkerSettings": python_module("arq", "app.worker.WorkerSettings"),
}


@contextmanager
def api_and_worker(
    name: str, env: Mapping[str, str], launcher: str = "python -m app worker"
) -> Iterator[tuple[ApiServer, ManagedProcess]]:
    """An API and a worker (started by ``launcher``) on ``env``, both stopped after."""
    api = ApiServer(f"api-{name}", env).start()
    try:
        worker = ManagedProcess(f"worker-{name}", WORKER_LAUNCHERS[launcher], env=env).start()
        try:
            yield api, worker
        finally:
            worker.stop()
    finally:
        api.close()


def refusal(*args: str, env: Mapping[str, str]) -> str:
    """``python -m app <args>`` with ``env`` only: it must refuse to start and say why in one
    line on stderr; that line."""
    result = subprocess.run(
        python_module("app", *args),
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    return lines[0]


def wait_for_servers(
    condition: Callable[[], bool], what: str, deadline_s: float = 20, every_s: float = 0.1
) -> None:
    """Bounded polling of a condition of servers that have no event for it (a replica in
    sync, a cluster settled); a Redis or socket error while they start counts as not yet."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline_s} s")
        time.sleep(every_s)

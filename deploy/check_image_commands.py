"""`make image-check`: run every command the image runs, without Docker.

    python deploy/check_image_commands.py [--keep]

1. The Dockerfile's build stage, instruction by instruction (ENV, WORKDIR, COPY, RUN) with
   /opt/venv and the WORKDIR in a temporary directory: a fresh venv from requirements.lock and
   requirements-build.lock alone (hashes, wheels only), the project without its deps,
   ``pip check``, pip/setuptools/wheel uninstalled, byte-compiled. The runtime stage's ENV is
   applied; its RUN (the base image's own pip and the ``bff`` user) and USER are not run:
   they change the machine, not what our processes can import.
2. Every module of the installed ``app`` package is imported from an empty directory, so a
   runtime import that only the dev lock satisfies fails here even where no start path
   reaches it.
3. docker-compose.yml's services are started with that venv first on PATH, from an empty
   directory, with the environment compose gives them: a private redis-server (compose's own
   command), the simulator, the API (the image's CMD: compose and Kubernetes do not override
   it) and the worker. Docker gives every container its own network; here they share
   loopback, so the fixed ports (6379, 8000, 8081, 9090, 9091) become free ones, the service
   host names 127.0.0.1, ``--host 0.0.0.0`` 127.0.0.1 (in commands, URLs and health checks).
4. Each service's healthcheck runs until it passes (as Docker polls it), then the image's
   HEALTHCHECK, the Kubernetes exec probes (``arq --check``) and HTTP probe paths.
5. An event stream is opened on the API, the API gets SIGTERM, and the stream must end as a
   complete response; then every process gets SIGTERM and must exit within its compose
   ``stop_grace_period`` (Docker's default 10 s when unset).

Needs PyPI (or the configured index) and redis-server on PATH, as ``.ci/run`` provides.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image_commands as ic

ROOT = ic.ROOT
VENV = "/opt/venv"
COMPOSE_PORTS = (6379, 8000, 8081, 9090, 9091)  # what the compose services listen on
START_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 20.0


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    print(f"image-check: {message}", flush=True)


# --- 1. the build stage -----------------------------------------------------------------------


def env_pairs(rest: str, env: dict[str, str]) -> dict[str, str]:
    """``ENV A=1 B=$PATH``: the pairs, ``$VAR`` / ``${VAR}`` expanded from ``env``."""
    pairs = {}
    for item in shlex.split(rest):
        key, _, value = item.partition("=")
        pairs[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
    return pairs


class Image:
    """The image's filesystem paths, mapped into a temporary directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.venv = tmp / "opt-venv"
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        # `python` before the venv exists: the interpreter this script runs on, as the base
        # image's python (not a venv's: `python -m venv` then makes a venv of the base).
        shim = tmp / "base-bin"
        shim.mkdir()
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        (shim / "python").symlink_to(base)
        self.env["PATH"] = f"{shim}{os.pathsep}{self.env.get('PATH', '')}"

    def path(self, image_path: str) -> Path:
        if image_path == VENV or image_path.startswith(VENV + "/"):
            return self.venv / image_path[len(VENV) :].lstrip("/")
        return self.tmp / ("root" + image_path)

    def map_text(self, text: str) -> str:
        return text.replace(VENV, str(self.venv))

    def run_stage(self, stage: ic.Stage, *, run: bool) -> Path:
        """The stage's ENV (always), WORKDIR, COPY and RUN (when ``run``); its last WORKDIR."""
        workdir = self.path("/")
        workdir.mkdir(parents=True, exist_ok=True)
        for word, rest in stage.instructions:
            if word == "ENV":
                self.env.update({k: self.map_text(v) for k, v in env_pairs(rest, self.env).items()})
            elif word == "WORKDIR":
                workdir = self.path(rest)
                workdir.mkdir(parents=True, exist_ok=True)
            elif word == "COPY" and run and not rest.startswith("--from"):
                *sources, dest = shlex.split(rest)
                target = workdir / dest
                for source in sources:
                    origin = ROOT / source
                    if origin.is_dir():
                        ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]")
                        shutil.copytree(origin, target, ignore=ignore, dirs_exist_ok=True)
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy(origin, target / origin.name)
            elif word == "RUN" and run:
                command = self.map_text(rest)
                say(f"RUN {rest}")
                with (self.tmp / "build.log").open("a+") as log:
                    result = subprocess.run(
                        ["sh", "-c", command], cwd=workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
                    )
                    if result.returncode != 0:
                        log.seek(0)
                        output = log.read()[-5000:]
                        raise CheckFailed(f"Dockerfile RUN failed ({result.returncode}): {rest}\n{output}")
        return workdir


# --- 3. the services --------------------------------------------------------------------------


class Loopback:
    """Compose's network on one machine: its host names → 127.0.0.1, its ports → free ones."""

    def __init__(self, services: list[str]) -> None:
        self.hosts = services
        self.ports = {port: free_port() for port in COMPOSE_PORTS}

    def text(self, value: str) -> str:
        hosts = "|".join(map(re.escape, [*self.hosts, "127.0.0.1", "0.0.0.0"]))

        def url(m: re.Match[str]) -> str:
            port = int(m.group(2))
            return f"{m.group(1)}127.0.0.1:{self.ports.get(port, port)}"

        return re.sub(rf"(//|^|(?<=['\"]))(?:{hosts}):(\d+)", url, value)

    def value(self, value: str) -> str:
        if value.isdigit() and int(value) in self.ports:
            return str(self.ports[int(value)])
        return self.text(value)

    def argv(self, argv: list[str]) -> list[str]:
        out = []
        for i, arg in enumerate(argv):
            previous = argv[i - 1] if i else ""
            if previous == "--host" and arg == "0.0.0.0":
                arg = "127.0.0.1"
            elif previous == "--port" and arg.isdigit():
                arg = self.value(arg)
            else:
                arg = self.text(arg)
            out.append(arg)
        return out


INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if variables.get(name):
            return variables[name]
        if op == "?":
            raise CheckFailed(f"docker-compose.yml needs {name}: {arg}")
        return arg if op == "-" else ""

    return INTERPOLATION.sub(one, value)


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    healthcheck: list[str]
    grace_s: float
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None


def duration_s(text: str | None, default: float) -> float:
    if not text:
        return default
    total = 0.0
    for amount, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", str(text)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def compose_plan(image: Image, loopback: Loopback, redis_dir: Path) -> list[Service]:
    variables = {
        **os.environ,
        "BFF_JWT_SECRET": secrets.token_hex(32),
        "BFF_LINK_SIGNING_KEY": secrets.token_hex(32),
        "BFF_UPSTREAM_SERVICE_TOKEN": "image-check-" + secrets.token_hex(8),
    }
    plan = []
    for name, svc in ic.compose_services(ROOT).items():
        if "build" not in svc:  # not our image: only Redis, run from its own binary
            redis = shutil.which(str(svc.get("command", ["redis-server"])[0]))
            if redis is None:
                raise CheckFailed(f"{name}: {svc['command'][0]} is not on PATH")
            argv = [*svc["command"], "--port", str(loopback.ports[6379]), "--bind", "127.0.0.1"]
            argv += ["--dir", str(redis_dir), "--save", ""]
            test = [str(a) for a in svc["healthcheck"]["test"][1:]]
            test = [test[0], "-p", str(loopback.ports[6379]), *test[1:]]
            plan.append(
                Service(name, argv, dict(os.environ), test, duration_s(svc.get("stop_grace_period"), 10))
            )
            continue
        env = dict(image.env)
        for key, value in (svc.get("environment") or {}).items():
            env[key] = loopback.value(interpolate(str(value), variables))
        argv = loopback.argv(ic.compose_command(svc, ROOT))
        healthcheck = loopback.argv(ic.compose_healthcheck(svc, ROOT))
        grace = duration_s(svc.get("stop_grace_period"), 10)
        plan.append(Service(name, argv, env, healthcheck, grace))
    return plan


def start(service: Service, cwd: Path, logs: Path) -> None:
    service.log = logs / f"{service.name}.log"
    say(f"start {service.name}: {' '.join(service.argv)}")
    with service.log.open("wb") as out:
        service.process = subprocess.Popen(
            service.argv,
            cwd=cwd,
            env=service.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_check(argv: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 15.0) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout_s} s"
    return done.returncode, (done.stdout + done.stderr).strip()


def until_healthy(service: Service, cwd: Path, what: str, argv: list[str]) -> None:
    """Polls the check as Docker does (an interval, then again) until it passes."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert service.process is not None
        if service.process.poll() is not None:
            raise CheckFailed(f"{service.name} exited with {service.process.returncode} before {what} passed")
        code, output = run_check(argv, service.env, cwd)
        if code == 0:
            say(f"{service.name}: {what} passed: {' '.join(argv)}")
            return
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{service.name}: {what} still fails after {START_TIMEOUT_S} s: {output[-500:]}"
            )
        time.sleep(0.5)


def must_pass(service: Service, cwd: Path, what: str, argv: list[str]) -> None:
    code, output = run_check(argv, service.env, cwd)
    if code != 0:
        raise CheckFailed(f"{service.name}: {what} failed ({code}): {' '.join(argv)}\n{output[-1000:]}")
    say(f"{service.name}: {what} passed: {' '.join(argv)}")


def http_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --- 5. an open event stream across SIGTERM ---------------------------------------------------


def open_event_stream(api: Service, sim_port: int, api_port: int, cwd: Path) -> http.client.HTTPResponse:
    """A package of a partner of our own, building on the simulator; its event stream open."""
    partner = "image-check"
    request = urllib.request.Request(
        f"http://127.0.0.1:{sim_port}/_sim/packages",
        data=json.dumps({"partner_id": partner, "status": "INPROGRESS"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        package_id = json.load(response)["id"]
    code, token = run_check(["python", "-m", "app", "token", "--partner", partner], api.env, cwd)
    if code != 0:
        raise CheckFailed(f"python -m app token failed: {token}")
    connection = http.client.HTTPConnection("127.0.0.1", api_port, timeout=20)
    connection.request(
        "GET",
        f"/v1/packages/{package_id}/events",
        headers={"Authorization": f"Bearer {token.splitlines()[-1]}", "X-Preferred-Partner-Id": partner},
    )
    stream = connection.getresponse()
    if stream.status != 200:
        raise CheckFailed(f"the event stream answered {stream.status}: {stream.read()[:500]!r}")
    first = b""
    while b"event: status" not in first:
        line = stream.readline()
        if not line:
            raise CheckFailed("the event stream ended before its first status")
        first += line
    return stream


def stop(service: Service) -> float:
    """SIGTERM; the seconds it took to exit, which must be within its grace period."""
    assert service.process is not None
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        code = service.process.wait(timeout=service.grace_s)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()
        raise CheckFailed(  # noqa: B904 (the timeout is the finding, not a cause)
            f"{service.name} still ran {service.grace_s} s after SIGTERM (its stop_grace_period)"
        )
    took = time.monotonic() - started
    if code not in (0, -signal.SIGTERM):
        raise CheckFailed(f"{service.name} exited with {code} on SIGTERM")
    say(f"{service.name}: exited {code} {took:.1f} s after SIGTERM (grace {service.grace_s:.0f} s)")
    return took


def check_services(image: Image, cwd: Path, tmp: Path) -> None:
    services = list(ic.compose_services(ROOT))
    loopback = Loopback(services)
    redis_dir = tmp / "redis"
    redis_dir.mkdir()
    logs = tmp / "logs"
    logs.mkdir()
    plan = {s.name: s for s in compose_plan(image, loopback, redis_dir)}
    order = ["redis", "simulator", "api", "worker"]
    if set(plan) != set(order):
        raise CheckFailed(f"docker-compose.yml has services {sorted(plan)}; this check knows {order}")
    try:
        for name in order:
            start(plan[name], cwd, logs)
            until_healthy(plan[name], cwd, "compose healthcheck", plan[name].healthcheck)
        api, worker = plan["api"], plan["worker"]
        must_pass(api, cwd, "the image's HEALTHCHECK", loopback.argv(ic.image_healthcheck(ROOT)))
        must_pass(worker, cwd, "arq --check", ["arq", "--check", "app.worker.WorkerSettings"])
        api_port = loopback.ports[8000]
        compose = ic.compose_services(ROOT)
        for deployment, container in ic.kubernetes_containers(ROOT).items():
            command = ic.kubernetes_command(container, ROOT)
            # The compose service that runs the same command: its process stands for the pod.
            same = [
                n for n, svc in compose.items() if "build" in svc and ic.compose_command(svc, ROOT) == command
            ]
            if not same:
                raise CheckFailed(f"Deployment {deployment} runs {command}, which no compose service runs")
            target = plan[same[0]]
            for probe, argv in ic.kubernetes_exec_probes(container).items():
                must_pass(target, cwd, f"Kubernetes {deployment} {probe}", argv)
            for probe, path in ic.kubernetes_http_probes(container).items():
                status = http_get(f"http://127.0.0.1:{api_port}{path}")
                if status != 200:
                    raise CheckFailed(f"Kubernetes {deployment} {probe} GET {path} answered {status}")
                say(f"{deployment}: {probe} GET {path} answered 200")
        stream = open_event_stream(api, loopback.ports[8081], api_port, cwd)
        stop(api)
        try:
            rest = stream.read()  # raises IncompleteRead when the chunked body was cut off
        except http.client.IncompleteRead as exc:
            raise CheckFailed(f"the API's SIGTERM cut the event stream off: {exc!r}") from exc
        if b"event: status" in rest:
            raise CheckFailed(f"the stream sent another status after SIGTERM: {rest!r}")
        say("api: the open event stream ended as a complete response on SIGTERM")
        for name in ("worker", "simulator", "redis"):
            stop(plan[name])
    except CheckFailed:
        for service in plan.values():
            if service.log is not None and service.log.exists():
                print(f"--- {service.name} log (last 3000 characters)", file=sys.stderr)
                print(service.log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        for service in plan.values():
            if service.process is not None and service.process.poll() is None:
                service.process.kill()
                service.process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="image-check-"))
    try:
        image = Image(tmp)
        build, *_, runtime = ic.stages(ROOT)
        image.run_stage(build, run=True)
        cwd = image.run_stage(runtime, run=False)  # its ENV and WORKDIR; see the docstring
        say("import every module of the installed app package, from an empty directory")
        code, output = run_check(
            [
                "python",
                "-c",
                "import importlib, pkgutil, app\n"
                "for m in pkgutil.walk_packages(app.__path__, 'app.'): importlib.import_module(m.name)\n"
                "print(app.__file__)",
            ],
            image.env,
            cwd,
            timeout_s=120,
        )
        if code != 0 or not output.splitlines()[-1].startswith(str(image.venv)):
            raise CheckFailed(
                f"the installed app does not import with the runtime lock alone:\n{output[-3000:]}"
            )
        check_services(image, cwd, tmp)
    except CheckFailed as exc:
        print(f"image-check: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if options.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"all good in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The commands the deployment files run, read from the files themselves (never copied).

The Dockerfile's ``CMD`` and ``HEALTHCHECK``, each docker-compose.yml service's ``command``
(the image's ``CMD`` when it has none) and ``healthcheck`` test, and the exec probes of the
Kubernetes Deployments. ``deploy/check_image_commands.py`` runs them; the shutdown test
starts the API exactly as the image does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, the rest)


def stages(root: Path = ROOT) -> list[Stage]:
    """The Dockerfile's stages, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (root / "Dockerfile").read_text())
    found: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            parts = rest.split()
            found.append(Stage(parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else str(len(found))))
        elif found:
            found[-1].instructions.append((word.upper(), rest.strip()))
    return found


def _instructions(root: Path) -> list[tuple[str, str]]:
    """The last (runtime) stage's instructions: what the image runs with."""
    return stages(root)[-1].instructions


def _exec_form(text: str, where: str) -> list[str]:
    """An exec-form (JSON array) command; the shell form would need a shell the check avoids."""
    argv = json.loads(text)
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise ValueError(f"{where}: not an exec-form command: {text}")
    return argv


def image_cmd(root: Path = ROOT) -> list[str]:
    """The image's ``CMD``: how the API starts wherever nothing overrides it."""
    cmds = [rest for word, rest in _instructions(root) if word == "CMD"]
    if not cmds:
        raise ValueError("Dockerfile: no CMD")
    return _exec_form(cmds[-1], "Dockerfile CMD")


def image_healthcheck(root: Path = ROOT) -> list[str]:
    """The ``HEALTHCHECK ... CMD [...]`` command."""
    checks = [rest for word, rest in _instructions(root) if word == "HEALTHCHECK"]
    if not checks:
        raise ValueError("Dockerfile: no HEALTHCHECK")
    _, _, command = checks[-1].partition(" CMD ")
    return _exec_form(command.strip(), "Dockerfile HEALTHCHECK")


def compose_services(root: Path = ROOT) -> dict[str, Any]:
    data = yaml.safe_load((root / "docker-compose.yml").read_text())
    return dict(data["services"])


def compose_command(service: dict[str, Any], root: Path = ROOT) -> list[str]:
    """A service's ``command``, or the image's ``CMD`` when it sets none."""
    command = service.get("command")
    if command is None:
        return image_cmd(root)
    if not isinstance(command, list):
        raise ValueError(f"docker-compose.yml: use the exec form (a list), not {command!r}")
    return [str(a) for a in command]


def compose_healthcheck(service: dict[str, Any], root: Path = ROOT) -> list[str]:
    """A service's healthcheck test (``["CMD", ...]``), or the image's ``HEALTHCHECK``."""
    test = service.get("healthcheck", {}).get("test")
    if test is None:
        return image_healthcheck(root)
    if not (isinstance(test, list) and test[:1] == ["CMD"]):
        raise ValueError(f"docker-compose.yml: healthcheck test must be [CMD, ...], not {test!r}")
    return [str(a) for a in test[1:]]


def kubernetes_containers(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """Deployment name → its first container, from deploy/base (what every overlay patches)."""
    containers = {}
    for path in sorted((root / "deploy" / "base").glob("*-deployment.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                containers[doc["metadata"]["name"]] = doc["spec"]["template"]["spec"]["containers"][0]
    return containers


def kubernetes_command(container: dict[str, Any], root: Path = ROOT) -> list[str]:
    """What the container runs: its command and args, else the image's ``CMD``."""
    if "command" not in container and "args" not in container:
        return image_cmd(root)
    if "command" not in container:
        raise ValueError("a container with args but no command appends them to the image's ENTRYPOINT")
    return [str(a) for a in container["command"] + container.get("args", [])]


def kubernetes_exec_probes(container: dict[str, Any]) -> dict[str, list[str]]:
    """probe name → command, for the probes that exec a command (HTTP probes are not commands)."""
    probes = {}
    for name in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container.get(name, {}).get("exec", {}).get("command")
        if command:
            probes[name] = [str(a) for a in command]
    return probes


def kubernetes_http_probes(container: dict[str, Any]) -> dict[str, str]:
    """probe name → path, for the HTTP probes."""
    return {
        name: container[name]["httpGet"]["path"]
        for name in ("startupProbe", "readinessProbe", "livenessProbe")
        if "httpGet" in container.get(name, {})
    }


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value replaced (``--port 8000`` → ``--port <free port>``)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == option and i + 1 < len(out):
            out[i + 1] = value
            return out
        if arg.startswith(option + "="):
            out[i] = f"{option}={value}"
            return out
    raise ValueError(f"{' '.join(argv)}: no {option}")

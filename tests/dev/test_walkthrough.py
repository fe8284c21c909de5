"""The walkthrough runs as written: every command of docs/walkthrough.md's ``sh`` blocks (and
of the README's first request) runs with bash against a started dev stack, from a directory
laid out like a checkout (``.venv``, ``app``, the stack's data in ``.dev-redis``). Only the
API's URL (the stack is on a free port) and the placeholders the text names are filled in,
each from the answer of the command that created the thing; a wrong step fails here, naming
the command and what it printed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.devstack import dev_stack
from tests.support.processes import ROOT

DOCUMENTED_API = "http://127.0.0.1:8000"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"<[a-z][a-z ]*>")
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)=", re.MULTILINE)
STREAM_LIMIT_S = 3  # an event stream never ends: its first frames are what the reader sees
DONE_DEADLINE_S = 30

# Each placeholder the text names, the command whose answer creates it, and its field there.
CREATED_BY = {
    "<draft id>": (re.compile(r'/v1/drafts"$'), "id"),
    "<id>": (re.compile(r'/v1/packages"$'), "id"),
    "<export id>": (re.compile(r'/exports"$'), "id"),
    "<endpoint id>": (re.compile(r'/v1/webhooks"$'), "id"),
    "<iterator>": (re.compile(r"/v1/activity\?after=.*json\.tool$", re.DOTALL), "iterator"),
}
# What the text says a command answers: an inline `# HTTP/1.1 304 Not Modified`, or a
# `202 + Location` in the command's comment.
STATUS_LINE = re.compile(r"HTTP/1\.1 \d{3}(?: [A-Z][a-z]+)*")
STATUS_WITH_LOCATION = re.compile(r"\b(\d{3}) \+ Location")


@dataclass
class Command:
    source: str
    text: str
    code: str  # the text without its trailing comment
    comment: str  # the comment lines just above it and its own trailing comment

    def documented(self) -> list[str]:
        """The lines the text promises in this command's output."""
        promised = STATUS_LINE.findall(self.comment)
        for status in STATUS_WITH_LOCATION.findall(self.comment):
            promised += [f"HTTP/1.1 {status}", "location:"]
        return promised


def _complete(text: str) -> bool:
    """Whether bash reads ``text`` as whole commands (no quote or parenthesis left open)."""
    return subprocess.run(["bash", "-n", "-c", text], capture_output=True).returncode == 0


def commands(source: str, markdown: str) -> list[Command]:
    """The commands of the ``sh`` blocks: backslash-continued lines and lines inside an open
    quote joined; comment-only lines kept as the next command's comment."""
    found: list[Command] = []
    for block in SH_BLOCK.findall(markdown):
        pending: list[str] = []
        comment: list[str] = []
        for line in block.splitlines():
            if not pending and not line.strip():
                comment = []
                continue
            if not pending and line.lstrip().startswith("#"):
                comment.append(line)
                continue
            pending.append(line)
            text = "\n".join(pending)
            if line.endswith("\\") or not _complete(text):
                continue
            last, _, trailing = line.partition("  # ")
            code = "\n".join([*pending[:-1], last]).rstrip()
            found.append(Command(source, text, code, "\n".join([*comment, trailing])))
            pending, comment = [], []
        assert not pending, f"{source}: an unfinished command: {pending}"
    return found


def walkthrough_commands() -> list[Command]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_request = readme.split("## A first request", 1)[1].split("\n## ", 1)[0]
    walkthrough = (ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    return commands("README.md", first_request) + commands("docs/walkthrough.md", walkthrough)


def _body(output: str) -> Any:
    """The JSON answer of a command (after the headers when ``-i`` printed them)."""
    return json.loads(output.replace("\r\n", "\n").split("\n\n")[-1])


class Shell:
    """Runs each command in its own ``bash``, the variables of earlier commands carried over
    (``declare -p``), with curl failing on a 4xx or 5xx (``fail-with-body`` in its .curlrc)."""

    def __init__(self, home: Path, api_url: str, variables: list[str]) -> None:
        self.home, self.api_url = home, api_url
        self.state = home / "variables.sh"
        self.state.write_text("")
        (home / ".curlrc").write_text("fail-with-body\n")
        self.variables = " ".join(sorted(set(variables)))
        # the reader's environment (their PATH finds python3 and curl), none of the stack's
        reader = {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "SIM_"))}
        self.env = {**reader, "CURL_HOME": str(home)}
        self.filled: dict[str, str] = {}

    def fill(self, command: Command) -> str:
        text = command.text.replace(DOCUMENTED_API, self.api_url)
        for placeholder in PLACEHOLDER.findall(text):
            assert placeholder in self.filled, f"{command.source}: {placeholder} used before it exists"
            text = text.replace(placeholder, self.filled[placeholder])
        if text.startswith("curl -sN "):
            text = f"timeout {STREAM_LIMIT_S} {text}"
        return text

    def run(self, command: Command) -> str:
        text = self.fill(command)
        script = (
            f"set -o pipefail\nsource {self.state}\n{text}\nstatus=$?\n"
            f"declare -p {self.variables} > {self.state} 2>/dev/null\nexit $status\n"
        )
        ran = subprocess.run(
            ["bash", "-c", script], cwd=self.home, env=self.env, capture_output=True, text=True, timeout=60
        )
        output = ran.stdout + ran.stderr
        ok = ran.returncode == 0 or (text.startswith("timeout ") and ran.returncode == 124)
        assert ok, f"{command.source}: exit {ran.returncode}:\n{text}\n---\n{output}"
        for promised in command.documented():
            assert promised.lower() in output.lower(), (
                f"{command.source}: no {promised!r} as documented:\n{text}\n---\n{output}"
            )
        self._note_created(command, output)
        return output

    def _note_created(self, command: Command, output: str) -> None:
        for placeholder, (creator, field) in CREATED_BY.items():
            if creator.search(command.code):
                try:
                    self.filled[placeholder] = str(_body(output)[field])
                except (ValueError, KeyError, TypeError):
                    raise AssertionError(
                        f"{command.source}: no {field!r} for {placeholder} in:\n{command.text}\n---\n{output}"
                    ) from None


def _check_stream(command: Command, output: str) -> None:
    """An event stream's first frames: the package's status; the activity of a resumed link
    replayed from after its id; a link opened from now starts with its retry frame."""
    if '"$EVENTS"' in command.text:
        wanted = "event: status"
    elif "last_event_id" in command.text.lower():
        wanted = "event: activity"
    else:
        wanted = "retry:"
    assert wanted in output, f"{command.source}: no {wanted!r} from:\n{command.text}\n---\n{output}"


def _wait_until_done(api: httpx.Client, package_id: str) -> None:
    """Poll the package's status until DONE, within a deadline (its results are read next)."""
    end = time.monotonic() + DONE_DEADLINE_S
    status = None
    while time.monotonic() < end:
        status = api.get(f"/v1/packages/{package_id}/status").json().get("status")
        if status == "DONE":
            return
        assert status not in ("FAILED", "EXPIRED"), f"package {package_id} ended {status}"
        time.sleep(0.2)
    raise AssertionError(f"package {package_id} is {status}, not DONE, after {DONE_DEADLINE_S}s")


def test_every_placeholder_of_the_walkthrough_is_named_in_its_text_and_filled_here():
    walkthrough = (ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    prose = SH_BLOCK.sub("", walkthrough)
    used = {p for command in walkthrough_commands() for p in PLACEHOLDER.findall(command.text)}
    assert used == set(CREATED_BY)
    assert [p for p in sorted(used) if f"`{p}`" not in prose] == []


def test_the_walkthrough_runs_as_written_against_a_dev_stack(tmp_path):
    home = tmp_path / "checkout"
    home.mkdir()
    for name in (".venv", "app"):  # `.venv/bin/python -m app token` as from the checkout
        (home / name).symlink_to(ROOT / name)
    steps = [c for c in walkthrough_commands() if not c.text.startswith("make run")]
    documented = [promised for step in steps for promised in step.documented()]
    assert "HTTP/1.1 202" in documented and "HTTP/1.1 304 Not Modified" in documented

    with dev_stack(home / ".dev-redis") as (stack, headers):
        api_url = f"http://127.0.0.1:{stack.api_port}"
        api = httpx.Client(base_url=api_url, headers=headers, timeout=30)
        shell = Shell(home, api_url, [v for step in steps for v in ASSIGNMENT.findall(step.text)])
        waited = False
        for step in steps:
            if not waited and "<id>" in step.text and not re.search(r'/(watch|status)"', step.text):
                _wait_until_done(api, shell.filled["<id>"])
                waited = True
            before = set(home.iterdir())
            output = shell.run(step)
            if step.text.startswith("curl -sN "):
                _check_stream(step, output)
            if " -OJ " in step.text:
                saved = [path for path in set(home.iterdir()) - before if path.suffix == ".csv"]
                assert saved and saved[0].read_text().strip(), f"no CSV saved by {step.text}: {output}"
        assert waited, "no step read the package's results"
        assert stack.stop(signal.SIGINT) == 0

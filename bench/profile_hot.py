"""Profile one hot-path target of the API with py-spy while wrk loads it.

    .venv/bin/python bench/profile_hot.py status|polled|view|list [seconds]

Starts the private bench stack, prepares the same packages as ``hot_path.py``, loads the target
with ``wrk -t1 -c32`` and records the API process with ``py-spy record --format raw`` (idle
samples dropped, so every sample is CPU). Prints the CPU per request and the functions with the
largest inclusive share of samples; the raw stacks are kept in ``bench/profiles/``.
Needs py-spy (installed with the dev extras) and permission to ptrace (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import asyncio
import collections
import re
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import load
from bench._stack import stack
from bench.hot_path import LIST_PARTNER, PARTNER, POLLED_INTERVAL_S, _polled_just_now, _prepare

PROFILES = Path(__file__).with_name("profiles")
_LINE = re.compile(r":\d+\)$")  # frames are counted per function, not per line


def _summarise(raw: Path, top: int = 40) -> None:
    """Inclusive share per function (counted once per stack), then self share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE.sub(")", frame) for frame in stack_text.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    print("inclusive:")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print("self:")
    for frame, count in own.most_common(top // 2):
        print(f"  {100 * count / total:5.1f}%  {frame}")


async def main(target: str, seconds: int) -> None:
    with stack(extra_env={"BFF_POLL_INTERVAL_S": str(POLLED_INTERVAL_S)}) as s:
        headers = s.headers(PARTNER)
        building, polled, done = await _prepare(s.sim_url, s.api_url, headers)
        await _polled_just_now(s.redis_url, polled)
        url, hdrs = {
            "status": (f"{s.api_url}/v1/packages/{building}/status", headers),
            "polled": (f"{s.api_url}/v1/packages/{polled}/status", headers),
            "view": (f"{s.api_url}/v1/packages/{done}", headers),
            "list": (f"{s.api_url}/v1/packages?limit=200", s.headers(LIST_PARTNER)),
        }[target]
        pid = s.api.process.pid  # type: ignore[union-attr]
        load(url, hdrs, seconds=1, pids=[pid])  # warm pools and caches
        PROFILES.mkdir(exist_ok=True)
        raw = PROFILES / f"{target}.txt"
        spy = [sys.executable.replace("python", "py-spy"), "record", "--pid", str(pid)]
        spy += ["--format", "raw", "--output", str(raw), "--duration", str(seconds), "--rate", "100"]
        recorder = threading.Thread(target=subprocess.run, args=(spy,), kwargs={"capture_output": True})
        recorder.start()
        result = load(url, hdrs, seconds=seconds, pids=[pid])
        recorder.join()
        print(f"{target}: {result.rps:.0f} req/s, {result.cpu_us_per_request:.0f} µs CPU/req")
        _summarise(raw)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10))

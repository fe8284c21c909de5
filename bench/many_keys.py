"""One partner's many-key bodies against everyone's latency: `/healthz` while the partner
sends 80 bodies of 100,000 unknown keys each (930 KB, inside its rate limit), side by side
with `/healthz` on an idle API in the same run.

Prints p50/p99/max of `/healthz` idle and under that load, and the API's CPU per many-key
body. Such a body is refused before it is parsed (more ``:`` and ``,`` than a body may hold),
so it never reaches validation and its 422 is one small error.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._load import cpu_seconds
from bench._stack import Stack, stack

BODIES = 80
ROUNDS = 5  # of 80 concurrent bodies, one every ROUND_S
ROUND_S = 1.0
KEYS = 100_000
PARTNER = "bench-many-keys"


def _body() -> bytes:
    document = {"title": "t", "event_ids": [1], "targeting_mode": "events"}
    document.update({f"{i:x}": 0 for i in range(KEYS)})
    return json.dumps(document, separators=(",", ":")).encode()


PROBE = """
import http.client, json, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
latencies, end = [], time.monotonic() + seconds
connection = http.client.HTTPConnection(host, port, timeout=30)
while time.monotonic() < end:
    started = time.perf_counter()
    connection.request("GET", "/healthz")
    connection.getresponse().read()
    latencies.append((time.perf_counter() - started) * 1000)
    time.sleep(0.01)
print(json.dumps(latencies))
"""


async def _probe_health(url: str, seconds: float) -> list[float]:
    """``/healthz`` latencies from a process of its own, so that the bench's own sending
    cannot delay the probe."""
    host, port = url.removeprefix("http://").split(":")
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, host, port, str(seconds), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await probe.communicate()
    latencies: list[float] = json.loads(out)
    return latencies


def _api_pids(s: Stack) -> list[int]:
    return [s.api.process.pid] if s.api.process is not None else []


def _summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1]


async def run() -> dict[str, float]:
    body = _body()
    with stack() as s:
        headers = {**s.headers(PARTNER), "Content-Type": "application/json"}
        idle_latencies = await _probe_health(s.api_url, 3)
        async with aiohttp.ClientSession() as session:
            statuses: list[int] = []

            async def send() -> None:
                async with session.post(f"{s.api_url}/v1/packages", data=body, headers=headers) as answer:
                    await answer.read()
                    statuses.append(answer.status)

            busy = asyncio.create_task(_probe_health(s.api_url, ROUND_S * ROUNDS))
            cpu_before = cpu_seconds(_api_pids(s))
            for _ in range(ROUNDS):  # 80 at once, again and again while the probe runs
                started = time.monotonic()
                await asyncio.gather(*(send() for _ in range(BODIES)))
                await asyncio.sleep(max(0.0, ROUND_S - (time.monotonic() - started)))
            cpu_per_body_ms = (cpu_seconds(_api_pids(s)) - cpu_before) / (BODIES * ROUNDS) * 1000
            busy_latencies = await busy
    idle_p50, idle_p99, idle_max = _summary(idle_latencies)
    busy_p50, busy_p99, busy_max = _summary(busy_latencies)
    print(f"many-key bodies: {BODIES} x {KEYS:,} unknown keys ({len(body) / 1024:.0f} KiB each), one partner")
    print(f"  answers: {sorted(set(statuses))}")
    print(
        f"  /healthz idle            p50 {idle_p50:6.1f} ms  p99 {idle_p99:6.1f} ms  max {idle_max:6.1f} ms"
    )
    print(
        f"  /healthz under the load  p50 {busy_p50:6.1f} ms  p99 {busy_p99:6.1f} ms  max {busy_max:6.1f} ms"
    )
    print(f"  API CPU per many-key body {cpu_per_body_ms:6.1f} ms")
    return {"healthz_p99_ms": busy_p99, "healthz_max_ms": busy_max, "cpu_per_body_ms": cpu_per_body_ms}


if __name__ == "__main__":
    asyncio.run(run())

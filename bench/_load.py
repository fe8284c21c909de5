"""Load generation and per-process CPU accounting for the throughput benchmarks.

``wrk -t1 -c32`` when it is on PATH (``make bench`` installs it when it can); otherwise a
Python load generator (aiohttp, one process per core), which is heavier, so the ratios it
gives are flatter. Every run is bounded in time, targets 127.0.0.1 only, and stops by itself.
CPU per request is the server process's utime+stime delta (``/proc/<pid>/stat``) divided by
the requests it answered: steady on a noisy shared machine where requests/s is not.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 32
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / TICKS


def children(pid: int) -> list[int]:
    """Direct children of a process (nginx's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_s: float  # of the measured server process(es) during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")


def generator() -> str:
    return "wrk -t1 -c32" if shutil.which("wrk") else "python aiohttp (wrk not installed)"


def load(
    url: str,
    headers: dict[str, str],
    *,
    seconds: float,
    pids: list[int],
    method: str = "GET",
    body: bytes = b"",
    connections: int = CONNECTIONS,
) -> LoadResult:
    """``method url`` with ``connections`` (32) for ``seconds``; CPU of ``pids`` measured around it."""
    before = cpu_seconds(pids)
    if shutil.which("wrk"):
        result = _wrk(url, headers, seconds, method, body, connections)
    else:
        result = _python_load(url, headers, seconds, method, body, connections)
    result.cpu_s = cpu_seconds(pids) - before
    return result


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(
    url: str, headers: dict[str, str], seconds: float, method: str, body: bytes, connections: int
) -> LoadResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if method != "GET" or body:
            script.write(f'wrk.method = "{method}"\nwrk.body = {json.dumps(body.decode())}\n')
            script.flush()
            argv += ["-s", script.name]
        out = subprocess.run(
            [*argv, url], capture_output=True, text=True, timeout=seconds + 30, check=True
        ).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    if done is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    elapsed = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
    p50 = re.search(r"50%\s+([\d.]+(?:us|ms|s))", out)
    p99 = re.search(r"99%\s+([\d.]+(?:us|ms|s))", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    return LoadResult(
        requests=int(done.group(1)),
        seconds=elapsed,
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        errors=errors,
        cpu_s=0.0,
    )


def _python_worker(args: tuple[str, dict[str, str], float, int, str, bytes]) -> tuple[list[float], int]:
    import aiohttp

    url, headers, seconds, connections, method, body = args

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one_connection() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        async with session.request(
                            method, url, headers=headers, data=body or None
                        ) as response:
                            await response.read()
                            if response.status >= 400:
                                errors += 1
                    except aiohttp.ClientError:
                        errors += 1
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(one_connection() for _ in range(connections)))
        return latencies, errors

    return asyncio.run(run())


def _python_load(
    url: str, headers: dict[str, str], seconds: float, method: str, body: bytes, connections: int
) -> LoadResult:
    workers = 2
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(
            _python_worker, [(url, headers, seconds, max(1, connections // workers), method, body)] * workers
        )
    elapsed = time.perf_counter() - started
    latencies = sorted(x for part, _ in parts for x in part)
    if not latencies:
        return LoadResult(0, elapsed, float("nan"), float("nan"), 0, 0.0)
    return LoadResult(
        requests=len(latencies),
        seconds=min(elapsed, seconds),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
        errors=sum(errors for _, errors in parts),
        cpu_s=0.0,
    )

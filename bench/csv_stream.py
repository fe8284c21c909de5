"""CSV pass-through: throughput through the BFF vs an nginx ``proxy_pass`` and straight from
the simulator, and the API's memory while ~1 GB streams (it must not grow with the body).

Prints MB/s of each path (same run; the median of BENCH_CSV_ROUNDS rounds, default 3,
taken in turn so that a slow moment of the shared host hits every path), the ratios, and
the API's RSS before and at its peak over all rounds. Size: BENCH_CSV_ROWS (default
13,000,000 rows ≈ 1 GB).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._nginx import nginx_proxy
from bench._stack import rss_mib, stack

ROWS = int(os.environ.get("BENCH_CSV_ROWS", "13000000"))
ROUNDS = int(os.environ.get("BENCH_CSV_ROUNDS", "3"))
PARTNER = "bench-csv"
TC = "AC/DC fans"


async def download(url: str, headers: dict[str, str]) -> tuple[int, float]:
    """Bytes received and seconds taken, reading in chunks as a browser would."""
    received = 0
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with (
        aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
        session.get(url, headers=headers) as response,
    ):
        response.raise_for_status()
        async for chunk in response.content.iter_chunked(256 * 1024):
            received += len(chunk)
    return received, time.perf_counter() - started


class PeakRss:
    """Samples a process's RSS every 50 ms on a thread while a download runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mib(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def run() -> dict[str, float]:
    with stack() as s:
        async with aiohttp.ClientSession() as control:
            async with control.post(
                f"{s.sim_url}/_sim/packages",
                json={
                    "partner_id": PARTNER,
                    "status": "DONE",
                    "clusters": [TC],
                    "customers_per_cluster": ROWS,
                },
            ) as response:
                package = await response.json()
        headers = s.headers(PARTNER)
        segment = quote(TC, safe="")
        direct_url = f"{s.sim_url}/package_builder/packages/{package['id']}/{segment}/customer_list"
        bff_url = f"{s.api_url}/v1/packages/{package['id']}/clusters/{segment}/customers.csv"
        await download(f"{s.api_url}/healthz", {})  # the API has served a request
        pid = s.api.process.pid  # type: ignore[union-attr]
        rss_before = rss_mib(pid)
        seconds: dict[str, list[float]] = {"direct": [], "nginx": [], "nginx_memory": [], "bff": []}
        with contextlib.ExitStack() as proxies, PeakRss(pid) as peak:
            sim_port = int(s.sim_url.rsplit(":", 1)[1])
            nginx = proxies.enter_context(nginx_proxy(sim_port, disk_buffering=True))
            nginx_memory = proxies.enter_context(nginx_proxy(sim_port, disk_buffering=False))
            path = direct_url.removeprefix(s.sim_url)
            urls = {
                "direct": direct_url,
                "nginx": nginx.url + path if nginx else None,
                "nginx_memory": nginx_memory.url + path if nginx_memory else None,
                "bff": bff_url,
            }
            sizes: set[int] = set()
            for _ in range(ROUNDS):  # interleaved: a slow moment of the host hits every path
                for name, url in urls.items():
                    if url is None:
                        seconds[name].append(float("nan"))
                        continue
                    received, taken = await download(url, headers)
                    sizes.add(received)
                    seconds[name].append(taken)
        assert len(sizes) == 1, f"the paths delivered different sizes: {sizes}"
        bff_bytes = sizes.pop()
        direct_s, bff_s = statistics.median(seconds["direct"]), statistics.median(seconds["bff"])
        nginx_s = {
            True: statistics.median(seconds["nginx"]),
            False: statistics.median(seconds["nginx_memory"]),
        }
    mb = bff_bytes / 1e6
    result = {
        "size_mb": mb,
        "direct_mb_s": mb / direct_s,
        "nginx_mb_s": mb / nginx_s[True],
        "nginx_memory_mb_s": mb / nginx_s[False],
        "bff_mb_s": mb / bff_s,
        "ratio": (mb / bff_s) / (mb / direct_s),
        "ratio_nginx": nginx_s[True] / bff_s,
        "ratio_nginx_memory": nginx_s[False] / bff_s,
        "rss_before_mib": rss_before,
        "rss_peak_mib": peak.peak,
    }
    print(f"CSV of {ROWS:,} rows ({mb:,.0f} MB), {ROUNDS} interleaved rounds per path (median):")
    print(f"  straight from the simulator  {result['direct_mb_s']:8.0f} MB/s")
    print(f"  nginx proxy_pass (defaults)  {result['nginx_mb_s']:8.0f} MB/s")
    print(f"  nginx, no disk buffering     {result['nginx_memory_mb_s']:8.0f} MB/s")
    print(f"  through the BFF              {result['bff_mb_s']:8.0f} MB/s")
    print(f"  ratio BFF/direct             {result['ratio']:8.2f}")
    print(f"  ratio BFF/nginx (defaults)   {result['ratio_nginx']:8.2f}   (goal >= 1.0)")
    print(f"  ratio BFF/nginx in memory    {result['ratio_nginx_memory']:8.2f}")
    print(
        f"  API RSS before / peak        {rss_before:6.0f} / {peak.peak:.0f} MiB "
        f"(growth {peak.peak - rss_before:.0f} MiB for a {mb:,.0f} MB body)"
    )
    return result


if __name__ == "__main__":
    asyncio.run(run())

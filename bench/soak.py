"""Soak: a day's mixed traffic for 30 minutes (``--minutes N``, ``--hour``) against one API and
one worker on a private stack, to see whether memory levels off. Not part of CI or of
``make bench``: ``.venv/bin/python bench/soak.py [--mode steady|growing]``.

Six callers for 20 partners with 10,000 distinct tokens send creates with fresh idempotency
keys, lists, status reads, cached views, drafts created and deleted, short event streams and
event searches. Every minute it prints the RSS of each process (API, worker, simulator),
Redis ``used_memory`` and key count, that minute's p99 and its 5xx.

* ``steady``: a fixed set of packages (each partner's creates stop at a cap; further creates
  replay an earlier idempotency key and make nothing new). Goal: RSS growth over the last
  half ≤ 5% of the level at the half, for the API and the worker.
* ``growing``: every create makes a package; growth per 1,000 packages over the last half is
  printed (the first half also fills what callers, not data, fill: 10,000 tokens' claims).

Both: p99 of the last five minutes ≤ 1.2× the first five's; no 5xx.
``--tracemalloc DIR`` runs the API and the worker under ``bench/_traced.py``: tracing starts
once the data is seeded, snapshots of both are saved at ``--snapshots`` minutes (default
5,15,30) and compared at the end (``--compare DIR`` compares saved ones again). A traced
process is several times slower and stalls while a snapshot is written: judge memory from
a traced run, latency from an untraced one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from redis.asyncio import Redis

from app.auth.tokens import issue_token
from bench._stack import SECRET, Stack, rss_mib, stack
from bench._traced import compare, traced_argv

PARTNERS = 20
TOKENS = 10_000
CALLERS = 6
SEEDED_PER_PARTNER = 25  # packages each partner starts with: finished ones (cached views) …
CREATED_PER_PARTNER = 25  # … and ones created through the API (watched by the worker)
RSS_GOAL = 0.05
P99_GOAL = 1.2
TIMEOUT = aiohttp.ClientTimeout(total=30)
SEARCH_WORDS = ["", "munich", "jazz", "open air", "rock", "classic", "summer"]
# (operation, weight): about what the SPA and the services send in a day.
MIX = [
    ("list", 22),
    ("status", 24),
    ("view", 14),
    ("search", 14),
    ("package", 8),
    ("draft", 8),
    ("stream", 4),
    ("create", 2),
]


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    @property
    def errors_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Partner:
    id: str
    tokens: list[dict[str, str]]
    packages: list[str] = field(default_factory=list)  # every package, newest last
    finished: list[str] = field(default_factory=list)  # DONE: their views are cached
    # (key, body, the caller's headers) of each create: a replay must come from the same
    # caller (an idempotency key is the caller's own; another's is a new create).
    keys: list[tuple[str, dict[str, object], dict[str, str]]] = field(default_factory=list)


class Soak:
    def __init__(self, bff: Stack, session: aiohttp.ClientSession, mode: str) -> None:
        self.bff = bff
        self.session = session
        self.mode = mode
        self.partners = [Partner(f"soak-{n:02d}", []) for n in range(PARTNERS)]
        for n in range(TOKENS):
            partner = self.partners[n % PARTNERS]
            token = issue_token(SECRET, sub=f"user-{n}", partners=[partner.id], ttl_s=3 * 3600)
            partner.tokens.append({"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner.id})
        self.minute = Minute()
        self.created = 0  # packages made during the run
        self.stop = asyncio.Event()

    async def seed(self) -> None:
        """Each partner's finished packages (made in the simulator) and watched ones (created
        through the API), so every operation has something to read from the start."""
        for partner in self.partners:
            for _ in range(SEEDED_PER_PARTNER):
                body = {"partner_id": partner.id, "status": "DONE"}
                async with self.session.post(f"{self.bff.sim_url}/_sim/packages", json=body) as response:
                    response.raise_for_status()
                    partner.finished.append((await response.json())["id"])
            partner.packages.extend(partner.finished)
            for _ in range(CREATED_PER_PARTNER):
                await self.create(partner, random.choice(partner.tokens), fresh=True)
        self.created = 0

    async def call(
        self, method: str, url: str, headers: dict[str, str], answer_header: str = "ETag", **kwargs: object
    ) -> tuple[int, bytes, str]:
        """Status, body and one header; a failure to connect or read counts as 599 (a 5xx)."""
        started = time.perf_counter()
        status, body, etag = 599, b"", ""
        try:
            async with self.session.request(method, self.bff.api_url + url, headers=headers, **kwargs) as r:  # type: ignore[arg-type]
                body = await r.read()
                status, etag = r.status, r.headers.get(answer_header, "")
        except (aiohttp.ClientError, TimeoutError):
            pass
        self.minute.latencies.append(time.perf_counter() - started)
        self.minute.statuses[status] += 1
        return status, body, etag

    async def create(self, partner: Partner, headers: dict[str, str], *, fresh: bool) -> None:
        if not fresh and partner.keys:
            key, body, headers = random.choice(partner.keys)  # a replay: nothing new is made
        else:
            key = str(uuid.uuid4())
            body = {
                "title": f"soak {key[:8]}",
                "event_ids": [random.randint(1, 99_999)],
                "targeting_mode": "lookalike",
            }
        status, answer, replayed = await self.call(
            "POST",
            "/v1/packages",
            {**headers, "Idempotency-Key": key},
            json=body,
            answer_header="Idempotent-Replayed",
        )
        if status == 202 and replayed != "true":
            partner.keys.append((key, body, headers))
            partner.packages.append(json.loads(answer)["id"])
            self.created += 1

    async def stream(self, partner: Partner, headers: dict[str, str]) -> None:
        """Opened, read to its first event, closed: the latency is the first event's."""
        path = f"/v1/packages/{random.choice(partner.packages)}/events"
        started = time.perf_counter()
        try:
            async with self.session.get(self.bff.api_url + path, headers=headers) as response:
                status = response.status
                if status == 200:
                    async for line in response.content:
                        if line.startswith(b"data:"):
                            break
                else:
                    await response.read()
        except (aiohttp.ClientError, TimeoutError):
            status = 599
        self.minute.latencies.append(time.perf_counter() - started)
        self.minute.statuses[status] += 1

    async def one(self) -> None:
        partner = random.choice(self.partners)
        headers = random.choice(partner.tokens)
        operation = random.choices([name for name, _ in MIX], [weight for _, weight in MIX])[0]
        if operation == "list":
            await self.call("GET", "/v1/packages?limit=50", headers)
        elif operation == "status":
            await self.call("GET", f"/v1/packages/{random.choice(partner.packages)}/status", headers)
        elif operation == "view":
            await self.call("GET", f"/v1/packages/{random.choice(partner.finished)}/evaluation", headers)
        elif operation == "package":
            await self.call("GET", f"/v1/packages/{random.choice(partner.packages)}", headers)
        elif operation == "search":
            params = {"search": random.choice(SEARCH_WORDS), "page": str(random.randint(1, 5))}
            await self.call("GET", "/v1/events", headers, params=params)
        elif operation == "draft":
            body = {"step": "events", "state": {"n": 1}}
            status, answer, etag = await self.call("POST", "/v1/drafts", headers, json=body)
            if status == 201:
                draft = json.loads(answer)["id"]
                await self.call("DELETE", f"/v1/drafts/{draft}", {**headers, "If-Match": etag})
        elif operation == "stream":
            await self.stream(partner, headers)
        else:
            capped = self.mode == "steady" and len(partner.keys) >= CREATED_PER_PARTNER
            await self.create(partner, headers, fresh=not capped)

    async def caller(self) -> None:
        while not self.stop.is_set():
            await self.one()


@dataclass
class Sample:
    minute: int
    rss: dict[str, float]
    redis_mib: float
    keys: int
    packages: int
    done: Minute

    def line(self) -> str:
        done = self.done
        other = {k: v for k, v in done.statuses.items() if k not in (200, 201, 202, 204)}
        return (
            f"{self.minute:>3}  "
            + "  ".join(f"{v:>9.1f}" for v in self.rss.values())
            + f"  {self.redis_mib:>9.1f}  {self.keys:>6}  {len(done.latencies):>7}  {done.p99_ms:>6.1f}"
            + f"  {done.errors_5xx:>3}  {self.packages:>8}"
            + (f"  other statuses: {other}" if other else "")
        )


def pids(bff: Stack) -> dict[str, int]:
    names = {"bench-api": "api", "bench-worker": "worker", "bench-sim": "simulator"}
    return {names[p.name]: p.process.pid for p in bff.processes if p.name in names and p.process}


async def sample(minute: int, run: Soak, redis: Redis, processes: dict[str, int]) -> Sample:
    done, run.minute = run.minute, Minute()
    info = await redis.info("memory")
    return Sample(
        minute,
        {name: rss_mib(pid) for name, pid in processes.items()},
        int(info["used_memory"]) / 2**20,
        int(await redis.dbsize()),
        sum(len(p.packages) for p in run.partners),
        done,
    )


def signal_snapshot(processes: dict[str, int]) -> None:
    """A traced process starts tracing at its first SIGUSR2 and writes a snapshot at each
    later one (bench/_traced.py)."""
    for name in ("api", "worker"):
        os.kill(processes[name], signal.SIGUSR2)


async def soak(args: argparse.Namespace) -> list[Sample]:
    wrap = traced_argv(Path(args.tracemalloc)) if args.tracemalloc else None
    snapshot_at = {int(m) for m in args.snapshots.split(",")} if args.tracemalloc else set()
    sim_env = {"SIM_BUILD_SECONDS": str(args.build_seconds)}
    samples: list[Sample] = []
    with stack(workers=1, sim_env=sim_env, wrap=wrap) as bff:
        connector = aiohttp.TCPConnector(limit=CALLERS * 2)
        async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
            redis = Redis.from_url(bff.redis_url)
            run = Soak(bff, session, args.mode)
            await run.seed()
            processes = pids(bff)
            if snapshot_at:
                signal_snapshot(processes)
            print(
                f"mode {args.mode}, {args.minutes} min, {CALLERS} callers, {PARTNERS} partners,"
                f" {TOKENS} tokens"
            )
            print(
                "min  "
                + "  ".join(f"{n:>9}" for n in processes)
                + "  redis MiB    keys    calls  p99 ms  5xx  packages"
            )
            callers = [asyncio.create_task(run.caller()) for _ in range(CALLERS)]
            try:
                for minute in range(1, args.minutes + 1):
                    await asyncio.sleep(60)
                    samples.append(await sample(minute, run, redis, processes))
                    print(samples[-1].line(), flush=True)
                    if minute in snapshot_at:
                        signal_snapshot(processes)
            finally:
                run.stop.set()
                await asyncio.gather(*callers, return_exceptions=True)
                await redis.aclose()
    return samples


def verdict(met: bool) -> str:
    return "PASS" if met else "FAIL"


def report_memory(samples: list[Sample], mode: str) -> bool:
    """Steady: growth over the last half against the level at the half. Growing: growth per
    1,000 packages over the last half (the first fills caches bounded by callers, not data)."""
    ok, half, last = True, samples[len(samples) // 2 - 1], samples[-1]
    for name in ("api", "worker", "simulator"):
        growth = (last.rss[name] - half.rss[name]) / half.rss[name]
        line = (
            f"{name:>9}: {samples[0].rss[name]:.1f} → {half.rss[name]:.1f} (min {half.minute})"
            f" → {last.rss[name]:.1f} MiB; last half {growth:+.1%}"
        )
        if mode == "steady" and name != "simulator":
            ok &= growth <= RSS_GOAL
            line += f"  goal ≤ {RSS_GOAL:.0%}: {verdict(growth <= RSS_GOAL)}"
        print(line)
    made = last.packages - half.packages
    if mode == "growing" and made:
        for name in ("api", "worker", "simulator"):
            per = (last.rss[name] - half.rss[name]) / made * 1000
            print(f"{name:>9}: {per:+.2f} MiB per 1,000 packages over the last half ({made} made)")
        print(f"    redis: {(last.redis_mib - half.redis_mib) / made * 1000:+.2f} MiB per 1,000 packages")
    print(
        f"    redis: {samples[0].redis_mib:.1f} → {last.redis_mib:.1f} MiB,"
        f" keys {samples[0].keys} → {last.keys}"
    )
    return ok


def report(samples: list[Sample], mode: str) -> bool:
    if len(samples) < 2:
        print("too short to judge")
        return False
    window = max(1, min(5, len(samples) // 2))
    first = percentile([x for s in samples[:window] for x in s.done.latencies], 0.99) * 1000
    last = percentile([x for s in samples[-window:] for x in s.done.latencies], 0.99) * 1000
    errors = sum(s.done.errors_5xx for s in samples)
    print(f"\n{sum(len(s.done.latencies) for s in samples)} calls; {errors} 5xx")
    ok = report_memory(samples, mode)
    ok &= last <= P99_GOAL * first
    print(
        f"p99 first {window} min {first:.1f} ms, last {window} min {last:.1f} ms ({last / first:.2f}x):"
        f" goal ≤ {P99_GOAL}x: {verdict(last <= P99_GOAL * first)}"
    )
    ok &= errors == 0
    print(f"5xx: {errors}: goal 0: {verdict(errors == 0)}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--hour", action="store_true", help="60 minutes")
    parser.add_argument("--mode", choices=["steady", "growing"], default="steady")
    parser.add_argument("--build-seconds", type=float, default=3600.0, help="the simulator's build time")
    parser.add_argument("--tracemalloc", metavar="DIR", help="trace the API and the worker, snapshots in DIR")
    parser.add_argument("--snapshots", default="5,15,30", help="minutes at which to take snapshots")
    parser.add_argument("--compare", metavar="DIR", help="only compare the snapshots in DIR")
    args = parser.parse_args()
    if args.compare:
        compare(Path(args.compare))
        return
    if args.hour:
        args.minutes = 60
    samples = asyncio.run(soak(args))
    ok = report(samples, args.mode)
    if args.tracemalloc:
        compare(Path(args.tracemalloc))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""Run every benchmark and write bench/RESULTS.md (figures as ratios to in-run baselines)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    activity,
    call_cost,
    cluster,
    csv_stream,
    evaluation_cache,
    fair_delivery,
    fair_share,
    hot_path,
    list_alternatives,
    list_scale,
    many_keys,
    polling,
    results_page,
    sse_fanout,
    stream_memory,
    upstream_transport,
    watch_scale,
)
from bench._load import generator

BENCHES = [
    ("Hot path", "hot", hot_path.run),
    ("The list at scale", "list", list_scale.run),
    ("Keeping a list: the alternatives", "list_alt", list_alternatives.run),
    ("Worker at scale", "scale", watch_scale.run),
    ("CSV pass-through", "csv", csv_stream.run),
    ("Upstream client transport", "transport", upstream_transport.main),
    ("What an upstream call costs besides its bytes", "cost", call_cost.run),
    ("Results page aggregation", "page", results_page.run),
    ("Evaluation cache", "evaluation", evaluation_cache.run),
    ("Watch polling cost", "polling", polling.run),
    ("Live status fan-out", "sse", sse_fanout.run),
    ("One partner's many-key bodies vs everyone's latency", "many_keys", many_keys.run),
    ("Memory per open event stream", "streams", stream_memory.run),
    ("Fair webhook delivery", "fair", fair_delivery.run),
    ("Activity feed and live activity", "activity", activity.run),
    ("Fair share: one partner's heavy use, everyone's latency", "fair_share", fair_share.run),
    ("One Redis vs a Redis Cluster of three primaries", "cluster", cluster.run),
]

# (what, figure, goal, met?) — each figure is a ratio or a cost measured against a baseline
# of the same run (see the sections below for both sides).
GOALS: list[tuple[str, str, str, str, Callable[[float], bool]]] = [
    ("/status uncached: throughput vs nginx", "hot", "status_vs_baseline", ">= 0.8x", lambda x: x >= 0.8),
    (
        "/status uncached: CPU vs bare aiohttp",
        "hot",
        "status_cpu_vs_aiohttp",
        f"<= {hot_path.STATUS_GOAL_VS_AIOHTTP:g}x",
        lambda x: x <= hot_path.STATUS_GOAL_VS_AIOHTTP,
    ),
    (
        "/status uncached: CPU vs the idiomatic FastAPI peer",
        "hot",
        "status_cpu_vs_peer",
        f"<= {hot_path.STATUS_GOAL_VS_PEER:g}x",
        lambda x: x <= hot_path.STATUS_GOAL_VS_PEER,
    ),
    (
        "cached results view: throughput vs one upstream GET",
        "hot",
        "view_vs_get",
        ">= 1.0x",
        lambda x: x >= 1,
    ),
    ("cached results view: CPU per request (µs)", "hot", "view_cpu_us", "<= 500", lambda x: x <= 500),
    (
        "cached results view: CPU vs bare aiohttp",
        "hot",
        "view_cpu_vs_aiohttp",
        f"<= {hot_path.VIEW_GOAL_VS_AIOHTTP:.2f}x",
        lambda x: x <= hot_path.VIEW_GOAL_VS_AIOHTTP,
    ),
    (
        "cached results view: CPU vs the FastAPI floor",
        "hot",
        "view_cpu_vs_floor",
        f"<= {hot_path.VIEW_GOAL_VS_FLOOR:.2f}x",
        lambda x: x <= hot_path.VIEW_GOAL_VS_FLOOR,
    ),
    ("list: throughput vs the upstream list direct", "hot", "list_vs_direct", ">= 0.6x", lambda x: x >= 0.6),
    (
        "list: API CPU per page, 5,000 vs 50 packages",
        "list",
        "cpu_ratio",
        f"<= {list_scale.CPU_RATIO_GOAL:g}x",
        lambda x: x <= list_scale.CPU_RATIO_GOAL,
    ),
    (
        "list: p50 at 8 readers, 5,000 packages (ms)",
        "list",
        "p50_ms_large",
        f"<= {list_scale.P50_GOAL_MS:g}",
        lambda x: x <= list_scale.P50_GOAL_MS,
    ),
    (
        "list: upstream list calls per partner per refresh interval",
        "list",
        "lists_per_interval",
        f"<= {list_scale.LISTS_PER_INTERVAL_GOAL:g}",
        lambda x: x <= list_scale.LISTS_PER_INTERVAL_GOAL,
    ),
    ("CSV: throughput vs nginx proxy_pass (its defaults)", "csv", "ratio_nginx", ">= 1.0x", lambda x: x >= 1),
    ("webhook fan-out: verified deliveries/s", "scale", "fanout_per_s", ">= 500", lambda x: x >= 500),
    (
        "10k builds: list calls per partner per interval",
        "scale",
        "lists_per_partner_interval",
        "<= 1",
        lambda x: x <= 1,
    ),
    ("10k builds: package GETs per finished build", "scale", "gets_per_build", "<= 1", lambda x: x <= 1),
    ("10k builds: DONE -> webhook p99 (s)", "scale", "lag_p99_s", "<= interval + 2 = 3", lambda x: x <= 3),
    (
        "long histories: bytes vs one package GET",
        "scale",
        "history_bytes_vs_get",
        "<= 20x",
        lambda x: x <= 20,
    ),
    (
        "long histories: worker CPU per partner per interval (ms)",
        "scale",
        "history_cpu_ms",
        "<= 5",
        lambda x: x <= 5,
    ),
    (
        "/healthz p99 while one partner sends 80 many-key bodies (ms)",
        "many_keys",
        "healthz_p99_ms",
        "<= 50",
        lambda x: x <= 50,
    ),
    (
        "another partner's test webhook p50 while one partner's 200 hang, vs alone",
        "fair",
        "b_p50_ratio",
        "<= 1.5x",
        lambda x: x <= 1.5,
    ),
    (
        "activity feed: API CPU per page, 100,000 vs 10 events",
        "activity",
        "page_cpu_ratio",
        f"<= {activity.CPU_RATIO_GOAL:g}x",
        lambda x: x <= activity.CPU_RATIO_GOAL,
    ),
    (
        "live activity: Redis commands per event the 1,000 open streams of a process add",
        "activity",
        "commands_per_event",
        f"<= {activity.COMMANDS_GOAL:g}",
        lambda x: x <= activity.COMMANDS_GOAL,
    ),
    (
        "long lists read each second: a small partner's p99 vs max(3x alone, 30 ms)",
        "fair_share",
        "lists_small_p99_vs_allowed",
        "<= 1.0x",
        lambda x: x <= 1,
    ),
    (
        "long lists read each second: /healthz p99 (ms)",
        "fair_share",
        "lists_healthz_p99_ms",
        "<= 50",
        lambda x: x <= 50,
    ),
    (
        "a search for nothing in 25,000 rows at the rate limit: Redis share of a core",
        "fair_share",
        "search_redis_core",
        "<= 0.30",
        lambda x: x <= 0.3,
    ),
    (
        "... meanwhile a small partner's p99 vs max(3x alone, 30 ms)",
        "fair_share",
        "search_small_p99_vs_allowed",
        "<= 1.0x",
        lambda x: x <= 1,
    ),
    (
        "a '*' token rotating 300 partners vs one partner, same burst",
        "fair_share",
        "star_vs_one",
        "<= 2x",
        lambda x: x <= 2,
    ),
    (
        "feed page of 40 events of 50 long-named clusters (MiB)",
        "fair_share",
        "feed_page_mib",
        "<= 8",
        lambda x: x <= 8,
    ),
    ("... API peak memory growth (MiB)", "fair_share", "feed_growth_mib", "<= 100", lambda x: x <= 100),
]


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    load = os.getloadavg()[0]
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 30
    return (
        f"{os.cpu_count()} cores ({model}), {memory_gib} GiB, "
        f"Python {platform.python_version()}, load generator {generator()}, load average {load:.1f} at start"
    )


def goal_table(figures: dict[str, dict[str, float]]) -> str:
    lines = ["| goal | measured | target | met |", "|---|---|---|---|"]
    for what, bench, name, target, met in GOALS:
        value = figures.get(bench, {}).get(name, float("nan"))
        verdict = "yes" if value == value and met(value) else "**no**"
        shown = f"{value:,.2f}" if abs(value) >= 10 else f"{value:.3f}"  # 1.003 is not 1.00
        lines.append(f"| {what} | {shown} | {target} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    sections = []
    figures: dict[str, dict[str, float]] = {}
    host = machine()
    for title, key, bench in BENCHES:
        print(f"== {title}", flush=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            figures[key] = asyncio.run(bench())
        print(out.getvalue(), flush=True)
        sections.append(f"## {title}\n\n```\n{out.getvalue().rstrip()}\n```\n")
    table = goal_table(figures)
    print("== Goals\n" + table, flush=True)
    header = (
        f"# Benchmark results\n\nMeasured {dt.date.today().isoformat()} on {host}, by `make bench` "
        "(each figure's baseline is measured in the same run).\n\n## Goals\n\n" + table
    )
    notes = Path(__file__).with_name("FINDINGS.md")  # hand-written: before/after, decisions
    extra = "\n" + notes.read_text() if notes.exists() else ""
    Path(__file__).with_name("RESULTS.md").write_text(header + extra + "\n" + "\n".join(sections))


if __name__ == "__main__":
    main()

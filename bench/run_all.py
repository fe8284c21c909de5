"""Run every benchmark and write bench/RESULTS.md (figures as ratios to in-run baselines)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    csv_stream,
    evaluation_cache,
    polling,
    results_page,
    sse_fanout,
    upstream_transport,
)

BENCHES = [
    ("Upstream client transport", upstream_transport.main),
    ("Results page aggregation", results_page.run),
    ("Evaluation cache", evaluation_cache.run),
    ("CSV pass-through", csv_stream.run),
    ("Watch polling cost", polling.run),
    ("Live status fan-out", sse_fanout.run),
]


def main() -> None:
    sections = []
    for title, bench in BENCHES:
        print(f"== {title}", flush=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            asyncio.run(bench())
        print(out.getvalue(), flush=True)
        sections.append(f"## {title}\n\n```\n{out.getvalue().rstrip()}\n```\n")
    header = (
        f"# Benchmark results\n\nMeasured {dt.date.today().isoformat()} on "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, by `make bench` "
        "(each figure's baseline is measured in the same run).\n"
    )
    Path(__file__).with_name("RESULTS.md").write_text(header + "\n" + "\n".join(sections))


if __name__ == "__main__":
    main()

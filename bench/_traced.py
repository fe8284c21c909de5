"""Where a process's memory goes: run ``python -m app …`` so that its first SIGUSR2 starts
tracemalloc and each later one writes a snapshot; ``compare`` prints the allocation sites
that grew between snapshots.

Bench-only: ``python bench/_traced.py DIR NAME api --port …`` runs the app's own entry point
unchanged (``runpy``), so nothing in ``app/`` knows it is traced. Tracing starts on a signal,
not with ``-X tracemalloc``: traced imports take the API 50 times longer to start, and what
was allocated before the load began is not what grows under it.
"""

from __future__ import annotations

import gc
import runpy
import signal
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import FrameType

FRAMES = 8
IGNORED = [
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
]


def traced_argv(directory: Path) -> Callable[[str, list[str]], list[str]]:
    """For ``bench._stack.stack(wrap=…)``: the API and the worker run traced, others as given."""
    directory.mkdir(parents=True, exist_ok=True)

    def wrap(name: str, argv: list[str]) -> list[str]:
        if name not in ("bench-api", "bench-worker"):
            return argv
        python, _, module, *rest = argv  # [python, -m, app, …]
        assert module == "app", argv
        return [python, __file__, str(directory), name, *rest]

    return wrap


def _serve(directory: Path, name: str, argv: list[str]) -> None:
    taken = 0

    def snapshot(signum: int, frame: FrameType | None) -> None:
        nonlocal taken
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
            print("tracemalloc started", flush=True)
            return
        taken += 1
        gc.collect()  # cycles awaiting collection are not what stays
        path = directory / f"{name}-{taken}.snap"
        tracemalloc.take_snapshot().filter_traces(IGNORED).dump(str(path))
        traced, peak = tracemalloc.get_traced_memory()
        print(
            f"tracemalloc snapshot {path}: {traced / 2**20:.1f} MiB traced, peak {peak / 2**20:.1f}",
            flush=True,
        )

    signal.signal(signal.SIGUSR2, snapshot)
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not bench/
    sys.argv = ["app", *argv]
    runpy.run_module("app", run_name="__main__", alter_sys=True)


def compare(directory: Path, top: int = 15) -> None:
    """Top growing sites (by line, then the stack of the biggest) between consecutive snapshots."""
    for name in ("bench-api", "bench-worker"):
        paths = sorted(directory.glob(f"{name}-*.snap"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        snaps = [tracemalloc.Snapshot.load(str(p)) for p in paths]
        for n in range(len(snaps) - 1):
            a, b = snaps[n], snaps[n + 1]
            total_a = sum(s.size for s in a.statistics("filename")) / 2**20
            total_b = sum(s.size for s in b.statistics("filename")) / 2**20
            print(
                f"\n== {name}: {paths[n].name} → {paths[n + 1].name}:"
                f" traced {total_a:.1f} → {total_b:.1f} MiB"
            )
            for stat in b.compare_to(a, "lineno")[:top]:
                frame = stat.traceback[0]
                print(
                    f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks"
                    f"  (now {stat.size / 1024:9.1f} KiB)  {frame.filename}:{frame.lineno}"
                )
            print(f"-- {name}: biggest growing stacks")
            for stat in b.compare_to(a, "traceback")[:5]:
                print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks")
                for line in stat.traceback.format(limit=FRAMES, most_recent_first=True):
                    print("    " + line)


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])

"""arq functions and cron jobs of the watch poller (registered by app/worker.py)."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob

WATCH_FUNCTIONS: list[Any] = []
WATCH_CRON_JOBS: list[CronJob] = []

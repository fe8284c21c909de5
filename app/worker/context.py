"""What the worker's ``ctx`` holds: every domain's job context, plus the worker's own parts."""

from __future__ import annotations

from app.activity.tasks import ActivityContext
from app.builds.tasks import BuildsContext, StatusPolling
from app.exports.tasks import ExportsContext
from app.webhooks.tasks import WebhooksContext
from app.worker.metrics import WorkerMetrics


class WorkerContext(ActivityContext, BuildsContext, ExportsContext, WebhooksContext):
    metrics: WorkerMetrics  # the worker's /metrics server and Redis sampler
    polling: StatusPolling  # the status poll loop (app/builds/tasks.py)

"""What every arq function of the worker finds in ``ctx``: set by arq, then by ``on_startup``."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NotRequired, TypedDict

from arq.connections import ArqRedis
from redis.asyncio import Redis

from app.observability.worker_metrics import WorkerMetrics
from app.settings import Settings
from app.tracing import continue_trace
from app.upstream import CallContext, PackageBuilderClient
from app.webhooks.transport import WebhookClient

if TYPE_CHECKING:  # app.builds.tasks takes this context: a runtime import would be circular
    from app.builds.tasks import StatusPolling


class WorkerContext(TypedDict):
    # Set by arq.
    redis: ArqRedis  # arq's own connection; jobs use it as ``queue``
    job_try: NotRequired[int]  # 1 on a job's first run (absent in startup/shutdown)
    # Set by app.worker.on_startup.
    settings: Settings
    queue: ArqRedis  # the arq queue (the same connection as ``redis``): enqueue follow-up jobs
    db: Redis  # our own keys (watches, statuses, deliveries, exports): responses decoded to str
    upstream: PackageBuilderClient
    webhook_http: WebhookClient  # partner endpoints only (SSRF-guarded), never the upstream
    metrics: WorkerMetrics  # the worker's /metrics server and Redis sampler
    polling: StatusPolling  # the status poll loop (app/builds/tasks.py)


def service_context(
    ctx: WorkerContext, partner_id: str, request_id: str, traceparent: str = ""
) -> CallContext:
    """The worker's identity upstream (``BFF_UPSTREAM_SERVICE_TOKEN``) for one partner; a job
    enqueued by a request continues that request's trace (``traceparent``)."""
    token = ctx["settings"].upstream_service_token
    context = CallContext.of_service(token.get_secret_value() if token else None, partner_id, request_id)
    return replace(context, traceparent=continue_trace(traceparent)) if traceparent else context

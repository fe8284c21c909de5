"""Exports: accepted by the API, carried out by the worker with retries."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from arq.connections import ArqRedis

from app.activity.outbox import Outbox
from app.exports.schemas import Export, ExportAttempt, ExportPage, ExportRequest
from app.exports.store import ExportStore
from app.kit.cursors import decode_cursor, encode_cursor
from app.kit.errors import Conflict, NotFound
from app.upstream import CallContext, PackageBuilderClient, UpstreamError
from app.upstream.models import ExportPayload
from app.webhooks.events import ExportEventData, ExportStatus, WebhookEventType

logger = logging.getLogger("app.exports")
RUN_EXPORT = "run_export"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def export_job_id(export_id: str) -> str:
    return f"export:{export_id}"


class ExportService:
    def __init__(self, store: ExportStore, upstream: PackageBuilderClient, queue: ArqRedis) -> None:
        self._store = store
        self._upstream = upstream
        self._queue = queue

    async def start(self, ctx: CallContext, package_id: str, tc: str, request: ExportRequest) -> Export:
        """Check the cluster exists on a DONE package, record the export, then enqueue it."""
        package = await self._upstream.get_package(ctx, package_id)
        if package.status != "DONE":
            raise Conflict(f"package {package_id!r} is {package.status}; only a DONE package can be exported")
        if tc not in (package.content or {}):
            raise NotFound("cluster", tc)
        now = _now()
        export = Export(
            id=uuid.uuid4().hex,
            status=ExportStatus.PENDING,
            package_id=package_id,
            tc=tc,
            crm_name=request.crm_name,
            secret_id=request.secret_id,
            container_name=request.container_name,
            created_at=now,
            updated_at=now,
        )
        await self._store.create(ctx.partner_id, export)
        await self._queue.enqueue_job(
            RUN_EXPORT, ctx.partner_id, export.id, ctx.traceparent, _job_id=export_job_id(export.id)
        )
        return export

    async def list(
        self, partner_id: str, *, package_id: str | None, cursor: str | None, limit: int
    ) -> ExportPage:
        """Newest first; with ``package_id`` only that package's exports."""
        after = decode_cursor(cursor) if cursor else None
        items, last = await self._store.page(partner_id, package_id=package_id, after=after, limit=limit)
        return ExportPage(items=items, next_cursor=encode_cursor(*last) if last else None)

    async def get(self, partner_id: str, export_id: str) -> Export:
        export = await self._store.get(partner_id, export_id)
        if export is None:
            raise NotFound("export", export_id)
        return export


async def run_export(
    store: ExportStore,
    upstream: PackageBuilderClient,
    ctx: CallContext,
    export_id: str,
    *,
    final_try: bool,
) -> Export | None:
    """One attempt. Returns the export when finished; raises the retryable error otherwise.

    Safe to run twice: a finished export is left alone.
    """
    export = await store.get(ctx.partner_id, export_id)
    if export is None or export.status in ("DONE", "FAILED"):
        return export
    export.status = ExportStatus.RUNNING
    export.updated_at = _now()
    await store.save(ctx.partner_id, export)
    payload = ExportPayload(
        crm_name=export.crm_name,
        secret_id=export.secret_id,
        container_name=export.container_name,
        packageId=export.package_id,
        tc=export.tc,
    )
    try:
        answer = await upstream.create_export(ctx, payload)
    except UpstreamError as exc:
        export.attempts.append(ExportAttempt(at=_now(), outcome="error", detail=exc.detail))
        export.updated_at = _now()
        if exc.retryable and not final_try:
            await store.save(ctx.partner_id, export)
            raise
        export.status, export.reason = ExportStatus.FAILED, exc.detail
        await store.save(ctx.partner_id, export)
        return export
    reference = answer.get("id")
    export.attempts.append(ExportAttempt(at=_now(), outcome="accepted"))
    export.status, export.updated_at = ExportStatus.DONE, _now()
    export.upstream_reference = str(reference) if reference is not None else None
    await store.save(ctx.partner_id, export)
    return export


async def announce_export(outbox: Outbox, partner_id: str, export: Export, public_base: str) -> None:
    """``export.done`` / ``export.failed`` once per export (idempotent: safe to repeat after a
    crash between finishing the export and announcing it)."""
    if export.status not in ("DONE", "FAILED"):
        return
    event_type = WebhookEventType.EXPORT_DONE if export.status == "DONE" else WebhookEventType.EXPORT_FAILED
    data = ExportEventData(
        export_id=export.id,
        partner_id=partner_id,
        package_id=export.package_id,
        tc=export.tc,
        crm_name=export.crm_name,
        container_name=export.container_name,
        status=export.status,
        reason=export.reason,
        upstream_reference=export.upstream_reference,
        export_url=f"{public_base}/v1/exports/{export.id}",
    )
    await outbox.emit(
        partner_id, event_type, f"{partner_id}:export:{export.id}:{export.status}", export.package_id, data
    )

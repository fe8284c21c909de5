"""The arq function of CRM exports (registered by app/worker/settings.py)."""

from __future__ import annotations

from typing import Any

from arq import Retry
from arq.worker import func

from app.activity.outbox import Outbox
from app.exports.service import RUN_EXPORT, announce_export, run_export
from app.exports.store import ExportStore
from app.kit.jobs import JobContext
from app.upstream import CallContext, PackageBuilderClient, UpstreamError

MAX_TRIES = 8


class ExportsContext(JobContext):
    upstream: PackageBuilderClient


async def run_export_job(
    ctx: ExportsContext, partner_id: str, export_id: str, traceparent: str = ""
) -> str | None:
    """Send one export to the data-integrations layer; retryable failures back off."""
    job_try = ctx.get("job_try", 1)
    try:
        export = await run_export(
            ExportStore(ctx["db"]),
            ctx["upstream"],
            CallContext.of_service(
                ctx["settings"].upstream_service_token, partner_id, f"export-{export_id}", traceparent
            ),
            export_id,
            final_try=job_try >= MAX_TRIES,
        )
    except UpstreamError as exc:
        raise Retry(defer=min(60.0, 0.5 * 2**job_try)) from exc
    if export is None:
        return None
    outbox = Outbox.of(ctx["db"], ctx["queue"], ctx["settings"])
    await announce_export(outbox, partner_id, export, ctx["settings"].public_base)
    return export.status


EXPORT_FUNCTIONS: list[Any] = [
    func(run_export_job, name=RUN_EXPORT, max_tries=MAX_TRIES, timeout=30),  # type: ignore[arg-type]
]

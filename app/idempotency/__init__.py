"""Idempotency-Key for unsafe POSTs: run once per (partner, scope, key), replay afterwards.

Use in a router::

    from app.idempotency import Answer, IdempotencyDep

    @router.post(..., status_code=202, response_model=ExportAccepted)
    async def create_export(body: ExportRequest, ..., idempotency: IdempotencyDep)
    ) -> ExportAccepted | Response:
        async def perform() -> Answer[ExportAccepted]:
            export = await service.start(ctx, package_id, tc, body)
            return Answer(accepted(export), {"Location": f"/v1/exports/{export.id}"})
        return await idempotency.respond("export", body, perform)
"""

from app.idempotency.dependency import (
    IDEMPOTENCY,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    Answer,
    Idempotency,
    IdempotencyDep,
    IdempotencyServiceDep,
    idempotency_key,
)
from app.idempotency.service import IdempotencyService, Outcome, fingerprint
from app.idempotency.store import IdempotencyStore, StoredResponse

__all__ = [
    "IDEMPOTENCY",
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "Answer",
    "Idempotency",
    "IdempotencyDep",
    "IdempotencyService",
    "IdempotencyServiceDep",
    "IdempotencyStore",
    "Outcome",
    "StoredResponse",
    "fingerprint",
    "idempotency_key",
]

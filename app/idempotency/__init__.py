"""Idempotency-Key for unsafe POSTs: run once per (partner, scope, key), replay afterwards.

Use in a router::

    from app.idempotency import IdempotencyDep

    @router.post(..., status_code=202, response_model=ExportAccepted)
    async def create_export(body: ExportRequest, ..., idempotency: IdempotencyDep) -> Response:
        async def perform() -> Response:
            export = await service.start(ctx, package_id, tc, body)
            return JSONResponse(export.model_dump(mode="json"), status_code=202)
        return await idempotency.respond("export", body, perform)
"""

from app.idempotency.dependency import (
    IDEMPOTENCY,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    Idempotency,
    IdempotencyDep,
    IdempotencyServiceDep,
    idempotency_key,
    model_response,
)
from app.idempotency.service import IdempotencyService, Outcome, fingerprint
from app.idempotency.store import IdempotencyStore, StoredResponse

__all__ = [
    "IDEMPOTENCY",
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyDep",
    "IdempotencyService",
    "IdempotencyServiceDep",
    "IdempotencyStore",
    "Outcome",
    "StoredResponse",
    "fingerprint",
    "idempotency_key",
    "model_response",
]

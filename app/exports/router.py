"""``POST /v1/packages/{id}/clusters/{tc}/exports`` and ``GET /v1/exports/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from fastapi.responses import JSONResponse

from app.deps import CallContextDep, PrincipalDep, QueueDep, RedisDep, SettingsDep, UpstreamDep
from app.errors import PROBLEM
from app.exports.schemas import Export, ExportAccepted, ExportRequest
from app.exports.service import ExportService
from app.exports.store import ExportStore
from app.idempotency import IdempotencyDep
from app.packages.router import ERRORS, ClusterName, PackageId

router = APIRouter(tags=["exports"])


def export_service(redis: RedisDep, upstream: UpstreamDep, queue: QueueDep) -> ExportService:
    return ExportService(ExportStore(redis), upstream, queue)


ServiceDep = Annotated[ExportService, Depends(export_service)]


@router.post(
    "/v1/packages/{package_id}/clusters/{tc:path}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportAccepted,
    name="create_export",
    responses={**ERRORS, 409: PROBLEM},
)
async def create_export(
    package_id: PackageId,
    tc: ClusterName,
    body: ExportRequest,
    ctx: CallContextDep,
    service: ServiceDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Send one cluster to a CRM through the data-integrations layer (done by the worker).
    Honours `Idempotency-Key`: a retried request starts no second export."""

    async def perform() -> Response:
        export = await service.start(ctx, package_id, tc, body)
        accepted = ExportAccepted(
            id=export.id, status=export.status, status_url=f"{settings.public_base}/v1/exports/{export.id}"
        )
        return JSONResponse(
            accepted.model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/v1/exports/{export.id}"},
        )

    return await idempotency.respond("export", body, perform)


@router.get(
    "/v1/exports/{export_id}",
    response_model=Export,
    name="get_export",
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM},
)
async def get_export(
    export_id: Annotated[str, Path(max_length=64)],
    principal: PrincipalDep,
    service: ServiceDep,
) -> Export:
    """An export's status: PENDING, RUNNING, DONE, or FAILED with its reason."""
    return await service.get(principal.partner_id, export_id)

"""``POST /v1/packages/{id}/clusters/{tc}/exports`` and ``GET /v1/exports/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import JSONResponse

from app.deps import CallContextDep, PrincipalDep, SettingsDep
from app.errors import PROBLEM, UPSTREAM_ERRORS
from app.exports.deps import ExportServiceDep
from app.exports.schemas import Export, ExportAccepted, ExportRequest
from app.idempotency import IdempotencyDep
from app.params import ClusterName, PackageId

router = APIRouter(tags=["exports"])


@router.post(
    "/v1/packages/{package_id}/clusters/{tc:path}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportAccepted,
    name="create_export",
    responses={**UPSTREAM_ERRORS, 409: PROBLEM},
)
async def create_export(
    package_id: PackageId,
    tc: ClusterName,
    body: ExportRequest,
    ctx: CallContextDep,
    service: ExportServiceDep,
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
    service: ExportServiceDep,
) -> Export:
    """An export's status: PENDING, RUNNING, DONE, or FAILED with its reason."""
    return await service.get(principal.partner_id, export_id)

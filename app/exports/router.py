"""``POST /v1/packages/{id}/clusters/{tc}/exports`` and ``GET /v1/exports/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.auth.deps import CallContextDep, PrincipalDep
from app.exports.deps import ExportServiceDep
from app.exports.schemas import Export, ExportAccepted, ExportPage, ExportRequest
from app.idempotency import Answer, IdempotencyDep
from app.kit.deps import SettingsDep
from app.kit.errors import PROBLEM, UPSTREAM_ERRORS
from app.kit.http_docs import documented
from app.kit.params import PACKAGE_ID_MAX_LENGTH, PACKAGE_ID_PATTERN, ClusterName, PackageId
from app.kit.types import Cursor

router = APIRouter(tags=["exports"])
EXPORT_RETRY_AFTER_S = 2  # when to look at a new export first


@router.post(
    "/v1/packages/{package_id}/clusters/{tc:path}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportAccepted,
    name="create_export",
    summary="Export a cluster to a CRM",
    responses={**UPSTREAM_ERRORS, 202: documented("Location", "Retry-After"), 409: PROBLEM},
)
async def create_export(
    package_id: PackageId,
    tc: ClusterName,
    body: ExportRequest,
    ctx: CallContextDep,
    service: ExportServiceDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> ExportAccepted | Response:
    """Send one cluster to a CRM through the data-integrations layer (done by the worker;
    its end is also an `export.done` / `export.failed` webhook event). Honours
    `Idempotency-Key`: a retried request starts no second export."""

    async def perform() -> Answer[ExportAccepted]:
        export = await service.start(ctx, package_id, tc, body)
        accepted = ExportAccepted(
            id=export.id, status=export.status, status_url=f"{settings.public_base}/v1/exports/{export.id}"
        )
        headers = {"Location": f"/v1/exports/{export.id}", "Retry-After": str(EXPORT_RETRY_AFTER_S)}
        return Answer(accepted, headers)

    return await idempotency.respond("export", body, perform)


@router.get(
    "/v1/exports/{export_id}",
    response_model=Export,
    name="get_export",
    summary="Get an export",
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM},
)
async def get_export(
    export_id: Annotated[str, Path(max_length=64)],
    principal: PrincipalDep,
    service: ExportServiceDep,
) -> Export:
    """An export's status: PENDING, RUNNING, DONE, or FAILED with its reason."""
    return await service.get(principal.partner_id, export_id)


@router.get(
    "/v1/exports",
    response_model=ExportPage,
    name="list_exports",
    summary="List exports",
    responses={401: PROBLEM, 403: PROBLEM, 422: PROBLEM, 429: PROBLEM},
)
async def list_exports(
    principal: PrincipalDep,
    service: ExportServiceDep,
    package_id: Annotated[
        str | None,
        Query(
            pattern=PACKAGE_ID_PATTERN, max_length=PACKAGE_ID_MAX_LENGTH, description="only this package's"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> ExportPage:
    """The partner's exports, newest first."""
    return await service.list(principal.partner_id, package_id=package_id, cursor=cursor, limit=limit)

"""The exports domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.deps import Services, ServicesDep
from app.exports.service import ExportService
from app.exports.store import ExportStore


def make_export_service(svc: Services) -> ExportService:
    return ExportService(ExportStore(svc.redis), svc.upstream, svc.queue)


async def export_service(svc: ServicesDep) -> ExportService:
    return svc.shared(make_export_service)


ExportServiceDep = Annotated[ExportService, Depends(export_service)]

"""The exports domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import Services, services_of
from app.exports.service import ExportService
from app.exports.store import ExportStore


def make_export_service(svc: Services) -> ExportService:
    return ExportService(ExportStore(svc.redis), svc.upstream, svc.queue)


async def export_service(request: Request) -> ExportService:
    return services_of(request).shared(make_export_service)


ExportServiceDep = Annotated[ExportService, Depends(export_service)]

"""The builds domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import Services, services_of
from app.builds.registry import WatchRegistry
from app.builds.service import BuildService
from app.builds.statuses import StatusStore


def make_build_service(svc: Services) -> BuildService:
    return BuildService(
        svc.upstream, WatchRegistry(svc.redis), StatusStore(svc.redis), svc.settings, svc.links
    )


async def build_service(request: Request) -> BuildService:
    return services_of(request).shared(make_build_service)


BuildServiceDep = Annotated[BuildService, Depends(build_service)]

"""The builds domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.builds.registry import WatchRegistry
from app.builds.service import BuildService
from app.builds.statuses import StatusStore
from app.deps import Services, ServicesDep


def make_build_service(svc: Services) -> BuildService:
    return BuildService(
        svc.upstream, WatchRegistry(svc.redis), StatusStore(svc.redis), svc.settings, svc.links
    )


async def build_service(svc: ServicesDep) -> BuildService:
    return svc.shared(make_build_service)


BuildServiceDep = Annotated[BuildService, Depends(build_service)]

"""The packages domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import Services, services_of
from app.builds.deps import make_build_service
from app.kit.cache import Cache
from app.packages.service import PackageService


def make_package_service(svc: Services) -> PackageService:
    builds = svc.shared(make_build_service)
    return PackageService(svc.upstream, builds, svc.settings, Cache(svc.redis), svc.links)


async def package_service(request: Request) -> PackageService:
    return services_of(request).shared(make_package_service)


PackageServiceDep = Annotated[PackageService, Depends(package_service)]

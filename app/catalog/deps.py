"""The catalog domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.cache import Cache
from app.catalog.service import CatalogService
from app.deps import Services, ServicesDep


def make_catalog_service(svc: Services) -> CatalogService:
    return CatalogService(svc.upstream, Cache(svc.redis), svc.settings.events_cache_ttl_s)


async def catalog_service(svc: ServicesDep) -> CatalogService:
    return svc.shared(make_catalog_service)


CatalogServiceDep = Annotated[CatalogService, Depends(catalog_service)]

"""The catalog domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import Services, services_of
from app.catalog.service import CatalogService
from app.kit.cache import Cache


def make_catalog_service(svc: Services) -> CatalogService:
    return CatalogService(svc.upstream, Cache(svc.redis), svc.settings.events_cache_ttl_s)


async def catalog_service(request: Request) -> CatalogService:
    return services_of(request).shared(make_catalog_service)


CatalogServiceDep = Annotated[CatalogService, Depends(catalog_service)]

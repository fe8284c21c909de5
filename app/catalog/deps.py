"""The catalog domain's FastAPI dependency: its service (one per process, built by the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.catalog.service import CatalogService
from app.kit.state import Provided

CATALOG = Provided[CatalogService]("catalog_service")
CatalogServiceDep = Annotated[CatalogService, Depends(CATALOG)]

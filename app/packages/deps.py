"""The packages domain's FastAPI dependency: its service (one per process, built by the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.kit.state import Provided
from app.listing.keeper import ListKeeper
from app.packages.service import PackageService

PACKAGES = Provided[PackageService]("package_service")
LISTS = Provided[ListKeeper]("list_keeper")  # closed by the lifespan: it runs background refreshes
PackageServiceDep = Annotated[PackageService, Depends(PACKAGES)]

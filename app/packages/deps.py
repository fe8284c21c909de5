"""The packages domain's FastAPI dependencies: its service (one per process, built by the API),
and what a read endpoint needs in one dependency (one node for FastAPI's solver)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.auth.deps import authenticates, call_context
from app.kit.state import Provided
from app.listing.keeper import ListKeeper
from app.packages.service import PackageService
from app.upstream import CallContext

PACKAGES = Provided[PackageService]("package_service")
LISTS = Provided[ListKeeper]("list_keeper")  # closed by the lifespan: it runs background refreshes
PackageServiceDep = Annotated[PackageService, Depends(PACKAGES)]


@dataclass(frozen=True, slots=True)
class PackageCall:
    """The caller's upstream context and the service: all a package read needs."""

    ctx: CallContext
    service: PackageService


@authenticates
async def package_call(request: Request) -> PackageCall:
    return PackageCall(await call_context(request), PACKAGES.of(request.app))


PackageCallDep = Annotated[PackageCall, Depends(package_call)]

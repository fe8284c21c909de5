"""The builds domain's FastAPI dependency: its service (one per process, built by the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.builds.service import BuildService
from app.kit.state import Provided

BUILDS = Provided[BuildService]("build_service")
BuildServiceDep = Annotated[BuildService, Depends(BUILDS)]

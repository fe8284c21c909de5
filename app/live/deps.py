"""The live domain's FastAPI dependency: its service (one per process, built by the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.kit.state import Provided
from app.live.service import LiveService

LIVE = Provided[LiveService]("live_service")
LiveServiceDep = Annotated[LiveService, Depends(LIVE)]

"""The exports domain's FastAPI dependency: its service (one per process, built by the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.exports.service import ExportService
from app.kit.state import Provided

EXPORTS = Provided[ExportService]("export_service")
ExportServiceDep = Annotated[ExportService, Depends(EXPORTS)]

"""The process's upstream client as a FastAPI dependency (provided by the API's lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.kit.state import Provided
from app.upstream.client import PackageBuilderClient

UPSTREAM = Provided[PackageBuilderClient]("upstream")
UpstreamDep = Annotated[PackageBuilderClient, Depends(UPSTREAM)]

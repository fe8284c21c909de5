"""The live domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import Services, services_of
from app.builds.deps import make_build_service
from app.live.service import LiveService


def make_live_service(svc: Services) -> LiveService:
    return LiveService(svc.shared(make_build_service), svc.hub, svc.settings.sse_heartbeat_s)


async def live_service(request: Request) -> LiveService:
    return services_of(request).shared(make_live_service)


LiveServiceDep = Annotated[LiveService, Depends(live_service)]

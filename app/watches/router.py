"""``POST /v1/packages/{id}/watch``: follow a package that was not created through the BFF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.deps import CallContextDep, RedisDep, SettingsDep, UpstreamDep
from app.errors import UPSTREAM_ERRORS
from app.live.store import StatusStore
from app.packages.router import PackageId
from app.watches.registry import WatchRegistry
from app.watches.schemas import WatchView
from app.watches.service import WatchService

router = APIRouter(prefix="/v1/packages", tags=["packages"])

ERRORS = UPSTREAM_ERRORS


def watch_service(upstream: UpstreamDep, redis: RedisDep, settings: SettingsDep) -> WatchService:
    return WatchService(upstream, WatchRegistry(redis), StatusStore(redis), settings)


WatchServiceDep = Annotated[WatchService, Depends(watch_service)]


@router.post(
    "/{package_id}/watch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WatchView,
    name="watch_package",
    responses=ERRORS,
)
async def watch_package(package_id: PackageId, ctx: CallContextDep, service: WatchServiceDep) -> WatchView:
    """Follow a package until its build ends (for packages created elsewhere, e.g. one the
    list shows in progress): the worker announces DONE, FAILED or EXPIRED to the partner's
    webhooks exactly once per build and publishes every status change to `/events`.
    Idempotent; an already finished build is announced once if it never was."""
    return await service.watch(ctx, package_id)

"""``POST /v1/packages/{id}/watch``: follow a package that was not created through the BFF."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.auth.deps import CallContextDep
from app.builds.deps import BuildServiceDep
from app.builds.schemas import WatchView
from app.kit.errors import UPSTREAM_ERRORS
from app.kit.params import PackageId

router = APIRouter(prefix="/v1/packages", tags=["packages"])


@router.post(
    "/{package_id}/watch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WatchView,
    name="watch_package",
    summary="Watch a package",
    responses=UPSTREAM_ERRORS,
)
async def watch_package(package_id: PackageId, ctx: CallContextDep, service: BuildServiceDep) -> WatchView:
    """Follow a package until its build ends (for packages created elsewhere, e.g. one the
    list shows in progress): the worker announces DONE, FAILED or EXPIRED to the partner's
    webhooks exactly once per build and publishes every status change to `/events`.
    Idempotent; an already finished build is announced once if it never was."""
    return await service.watch(ctx, package_id)

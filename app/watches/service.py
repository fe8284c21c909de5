"""Following a package from a request: read it as the caller, report its status, watch it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from app.live.store import Observation, StatusRecord, StatusStore
from app.packages.presenters import progress_of
from app.settings import Settings
from app.upstream import CallContext, PackageBuilderClient
from app.upstream.models import TERMINAL_STATUSES, UpstreamPackage
from app.watches.registry import WatchRegistry
from app.watches.schemas import WatchView


@dataclass(frozen=True, slots=True)
class Followed:
    package: UpstreamPackage
    record: StatusRecord  # the last known status (the read just made, or a newer one)
    watching: bool


class WatchService:
    """One instance per request; knows no HTTP."""

    def __init__(
        self,
        upstream: PackageBuilderClient,
        registry: WatchRegistry,
        statuses: StatusStore,
        settings: Settings,
    ) -> None:
        self._upstream = upstream
        self._registry = registry
        self._statuses = statuses
        self._settings = settings

    async def follow(self, ctx: CallContext, package_id: str, *, if_terminal: bool) -> Followed:
        """Read the package with the caller's identity (404 for someone else's), report
        the status read, and open a watch unless the build is over and ``if_terminal``
        is false. One upstream call, whatever the number of followers."""
        observed_at = await self._registry.clock_ms()
        package = await self._upstream.get_package(ctx, package_id)
        record = await self._statuses.observe(ctx.partner_id, Observation.of(package, observed_at))
        watching = False
        if if_terminal or package.status not in TERMINAL_STATUSES:
            watching = await self._registry.ensure(ctx.partner_id, package.id, package.status, observed_at)
        return Followed(package, record, watching)

    async def watch(self, ctx: CallContext, package_id: str) -> WatchView:
        """Watch a package created elsewhere; its terminal event is emitted once per build."""
        followed = await self.follow(ctx, package_id, if_terminal=True)
        package = followed.package
        path = f"{self._settings.public_base}/v1/packages/{quote(package.id, safe='')}"
        return WatchView(
            id=package.id,
            status=package.status,
            progress=progress_of(package),
            watching=followed.watching,
            events_url=f"{path}/events",
            status_url=f"{path}/status",
            results_url=path,
        )

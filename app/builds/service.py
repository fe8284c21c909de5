"""Following builds from requests: start a watch, follow a package read as the caller,
watch what a list shows building, and read the last known status. Knows no HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from app.builds.links import events_segments
from app.builds.registry import WatchRegistry
from app.builds.schemas import WatchView
from app.builds.statuses import Observation, StatusRecord, StatusStore
from app.kit.links import EVENTS_LINK_S, LinkSigner
from app.kit.retry import REDIS_ERRORS
from app.kit.settings import Settings
from app.listing.rows import Listed, progress_of
from app.upstream import CallContext, PackageBuilderClient
from app.upstream.models import BUILDING_STATUSES, TERMINAL_STATUSES, UpstreamPackage

logger = logging.getLogger("app.builds")


@dataclass(frozen=True, slots=True)
class Followed:
    package: UpstreamPackage
    record: StatusRecord  # the last known status (the read just made, or a newer one)
    watching: bool


class BuildService:
    """Holds only process-wide collaborators: one instance serves every request."""

    def __init__(
        self,
        upstream: PackageBuilderClient,
        registry: WatchRegistry,
        statuses: StatusStore,
        settings: Settings,
        links: LinkSigner,
    ) -> None:
        self._links = links
        self._upstream = upstream
        self._registry = registry
        self._statuses = statuses
        self._settings = settings

    async def ensure_reachable(self) -> None:
        """503 before an upstream action whose watch could not then be recorded."""
        await self._registry.ensure_reachable()

    async def start(self, partner_id: str, package_id: str, *, reason: str) -> str:
        """Watch a build the BFF just started (create, merge, regenerate); see
        ``WatchRegistry.open``."""
        return await self._registry.open(partner_id, package_id, reason=reason)

    async def clock_ms(self) -> int | None:
        """The Redis clock taken before an upstream read, or None when Redis is down."""
        try:
            return await self._registry.clock_ms()
        except REDIS_ERRORS:
            return None

    async def watch_listed(
        self, ctx: CallContext, packages: Sequence[Listed], observed_at: int | None
    ) -> None:
        """Builds a list shows in progress get a watch too, whoever started them, so their
        DONE/FAILED event goes out. Best effort: a list never fails for it."""
        building = [p for p in packages if p.status in BUILDING_STATUSES]
        if not building or observed_at is None or self._upstream.serves_fixture(ctx.partner_id):
            return  # a demo partner's fixture never changes: nothing to watch
        try:
            await asyncio.gather(
                *(self._registry.ensure(ctx.partner_id, p.id, p.status, observed_at) for p in building)
            )
        except REDIS_ERRORS as exc:
            logger.warning("could not watch the builds listed for %s: %s", ctx.partner_id, exc)

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

    async def fresh_status(self, partner_id: str, package_id: str) -> tuple[StatusRecord, float] | None:
        """The status the worker read less than one poll interval ago, and its age in
        seconds; None when there is none that fresh (or Redis is down): ask the upstream."""
        max_age_ms = int(self._settings.poll_interval_s * 1000)
        try:
            found = await self._statuses.fresh(partner_id, package_id, max_age_ms)
        except REDIS_ERRORS as exc:
            logger.warning("status store unavailable, asking the upstream: %s", exc)
            return None
        return None if found is None else (found[0], found[1] / 1000)

    async def latest(self, partner_id: str, package_id: str) -> StatusRecord | None:
        """The last status anyone observed (None when none is stored)."""
        return await self._statuses.get(partner_id, package_id)

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
            events_url=self._links.url(events_segments(package.id), ctx.partner_id, EVENTS_LINK_S),
            status_url=f"{path}/status",
            results_url=path,
        )

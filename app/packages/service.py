"""Package logic: aggregation, filtering and paging over the upstream. Knows no HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic import TypeAdapter
from redis.exceptions import RedisError

from app.builds.links import events_segments
from app.builds.service import BuildService
from app.kit.cache import Cache
from app.kit.conditional import Precondition
from app.kit.cursors import decode_cursor
from app.kit.errors import Conflict, PreconditionFailed
from app.kit.links import EVENTS_LINK_S, LinkSigner
from app.kit.locks import new_token
from app.kit.retry import REDIS_ERRORS, REDIS_UNAVAILABLE
from app.kit.settings import Settings
from app.listing.keeper import KeptPage, ListKeeper
from app.listing.rows import PackageIndex, PageQuery, cursor_after, kept_rows, page_in_memory, storable
from app.packages import keys as package_keys
from app.packages import presenters
from app.packages.presenters import RenderedView
from app.packages.schemas import (
    CreatePackageRequest,
    EvaluationSettingsUpdate,
    EvaluationView,
    PackageStatusView,
)
from app.upstream import CallContext, CustomerListStream, PackageBuilderClient, UpstreamError
from app.upstream.models import CreatePackagePayload, EvaluationDetails, PackageState, UpstreamPackage

logger = logging.getLogger("app.packages")
EVALUATION = TypeAdapter(EvaluationView)


class PackageService:
    """One instance per process; holds nothing but its collaborators."""

    def __init__(
        self,
        upstream: PackageBuilderClient,
        builds: BuildService,
        settings: Settings,
        cache: Cache,
        links: LinkSigner,
        lists: ListKeeper,
    ) -> None:
        self._lists = lists
        self._links = links
        self._upstream = upstream
        self._builds = builds
        self._settings = settings
        self._cache = cache

    async def list(
        self,
        ctx: CallContext,
        *,
        statuses: Sequence[str],
        q: str | None,
        limit: int,
        cursor: str | None,
    ) -> KeptPage:
        """Newest first, filtered by status and a case-insensitive title/id search, from the
        list the BFF keeps (see ``app/listing``). With Redis unreachable, the page is made
        from the upstream's list as it comes (each read one list call, as the kept list
        spares)."""
        query = PageQuery(
            statuses=frozenset(statuses),
            needle=storable((q or "").strip().casefold()),
            limit=limit,
            after=decode_cursor(cursor) if cursor else None,
        )
        try:
            return await self._lists.page(ctx, query)
        except REDIS_UNAVAILABLE as exc:
            logger.warning("kept package lists unavailable, reading the upstream's: %r", exc)
        packages = await self._upstream.list_packages(ctx)
        rows, last = page_in_memory(kept_rows(packages), query)
        return KeptPage(rows, cursor_after(last) if last else None, 0.0)

    async def create(self, ctx: CallContext, request: CreatePackageRequest) -> str:
        """Create upstream, then open the watch before answering."""
        payload = CreatePackagePayload(
            num_packages=request.num_packages,
            n_top_events=request.n_top_events,
            event_ids=request.event_ids,
            package_title=request.title,
            targeting_mode=request.targeting_mode,
            filters=request.filters.model_dump(mode="json"),
        )
        await self._builds.ensure_reachable()
        ref = await self._upstream.create_package(ctx, payload)
        await self._builds.start(ctx.partner_id, ref.id, reason="create")
        await self._list_at_once(ctx, ref.id)
        return ref.id

    async def merge(self, ctx: CallContext, package_ids: Sequence[str]) -> str:
        await self._builds.ensure_reachable()
        ref = await self._upstream.merge_packages(ctx, package_ids)
        await self._builds.start(ctx.partner_id, ref.id, reason="merge")
        await self._list_at_once(ctx, ref.id, PackageIndex(package_ids))
        return ref.id

    async def _list_at_once(
        self, ctx: CallContext, package_id: str, index: PackageIndex | None = None
    ) -> None:
        """The BFF's own new package shows on the first page at once: read, then kept as a
        row (only where a list is kept: else the first read fetches it with the rest). Best
        effort: the package exists and is watched, and the next refresh lists it anyway."""
        try:
            if not await self._lists.is_kept(ctx.partner_id):
                return
            observed_at = await self._builds.clock_ms()
            package = await self._upstream.get_package(ctx, package_id)
            if observed_at is not None:
                await self._lists.record(ctx.partner_id, package, observed_at, index)
        except (UpstreamError, RedisError) as exc:
            logger.warning("%s is listed by the next refresh, not at once: %r", package_id, exc)

    async def regenerate(self, ctx: CallContext, package_id: str) -> None:
        """Only an EXPIRED package may be regenerated (409 otherwise, as upstream would)."""
        package = await self._upstream.get_package(ctx, package_id)
        if package.status != "EXPIRED":
            raise Conflict(
                f"package {package_id!r} is {package.status}; only an EXPIRED package can be regenerated"
            )
        # Before the upstream call: when Redis is down this fails (503) with nothing done.
        await self._cache.invalidate(*self._cache_keys(ctx, package_id))
        await self._upstream.regenerate_package(ctx, package_id)
        await self._builds.start(ctx.partner_id, package_id, reason="regenerate")
        await self._relist(ctx, PackageState(id=package_id, status="INITIALIZING"))

    async def _relist(self, ctx: CallContext, state: PackageState) -> None:
        """A status the BFF itself just set (regenerate): the kept row shows it at once. Its
        time is taken after the call, when the status holds, so a refresh that began before
        it cannot undo it. Best effort, as for a new package."""
        try:
            observed_at = await self._builds.clock_ms()
            if observed_at is not None:
                await self._lists.observe(ctx.partner_id, [state], observed_at)
        except REDIS_ERRORS as exc:
            logger.warning("%s shows %s after the next refresh: %r", state.id, state.status, exc)

    async def status(self, ctx: CallContext, package_id: str) -> tuple[PackageStatusView, float | None]:
        """``{id, status, progress}`` and, when it comes from the worker's last poll rather
        than the upstream, its age in seconds.

        A build the partner's worker polled less than one interval ago is answered from
        that poll: no upstream call. That is safe because statuses are stored per partner
        and only for the partner's own watches (read upstream as that partner); anything
        else (an unknown id, another partner's package, a build nobody watches, a finished
        build whose watch has closed) goes to the upstream, which decides (404 included).
        """
        fresh = await self._builds.fresh_status(ctx.partner_id, package_id)
        if fresh is not None:
            record, age_s = fresh
            events_url = self._links.url(events_segments(record.id), ctx.partner_id, EVENTS_LINK_S)
            view = PackageStatusView(
                id=record.id, status=record.status, progress=record.progress, events_url=events_url
            )
            return view, age_s
        package = await self._upstream.get_package_state(ctx, package_id)
        return presenters.status_view(package, self._links, ctx.partner_id), None

    async def view(self, ctx: CallContext, package_id: str) -> RenderedView:
        """The results page, serialised; a DONE package's complete page is cached as these
        bytes (with their ETag) until it changes (regenerate or new evaluation settings), or
        for ``PACKAGE_VIEW_TTL_S`` at most. A hit is served without parsing or serialising."""
        key = package_keys.package_view_cache(ctx.partner_id, package_id)
        stored = await self._cache.get_or_fill_text(key, lambda: self._fresh_view(ctx, package_id))
        return RenderedView.from_stored(stored)

    async def _fresh_view(self, ctx: CallContext, package_id: str) -> tuple[str, int | None]:
        """Package, settings and evaluation fetched concurrently; the page survives a
        missing evaluation (not ready yet, or the evaluation service failing)."""
        package, details, evaluation = await asyncio.gather(
            self._upstream.get_package(ctx, package_id),
            self._upstream.get_evaluation_details(ctx, package_id),
            self._upstream.get_evaluation(ctx, package_id),
            return_exceptions=True,
        )
        if isinstance(package, BaseException):
            raise package
        for part in (details, evaluation):
            if isinstance(part, BaseException) and not isinstance(part, UpstreamError):
                raise part
            if isinstance(part, UpstreamError) and package.status == "DONE":
                logger.warning("results page of %s without %s", package_id, part.detail)
        view = presenters.package_view(
            package,
            details if isinstance(details, EvaluationDetails) else None,
            evaluation if not isinstance(evaluation, BaseException) else None,
            self._settings.public_base,
            self._links,
            ctx.partner_id,
            await self._index_for(ctx, package),
        )
        complete = not isinstance(details, BaseException) and not isinstance(evaluation, BaseException)
        keep = package.status == "DONE" and complete
        return RenderedView.of(view).stored(), package_keys.PACKAGE_VIEW_TTL_S if keep else None

    async def _index_for(self, ctx: CallContext, package: UpstreamPackage) -> PackageIndex | None:
        """A merged package's ``merged_from`` names ids of the partner's list: its kept row
        has them resolved (a list call only when none is kept, or the row is newer than it).
        Without them, the parts as the ``merge_id`` gives them."""
        if not package.merge_id:
            return None
        try:
            try:
                kept = await self._lists.merged_from(ctx, package.id)
            except REDIS_UNAVAILABLE:
                kept = None
            if kept is not None:
                return PackageIndex(kept)
            return PackageIndex(p.id for p in await self._upstream.list_packages(ctx))
        except UpstreamError as exc:
            logger.warning("merged_from of %s left as the merge_id's parts: %s", package.id, exc.detail)
            return None

    async def evaluation(self, ctx: CallContext, package_id: str) -> EvaluationView:
        """Settings + results, cached per partner and package; one upstream fetch per miss."""
        key = package_keys.evaluation_cache(ctx.partner_id, package_id)
        return await self._cache.get_or_fill(key, EVALUATION, lambda: self._fresh_evaluation(ctx, package_id))

    async def _fresh_evaluation(self, ctx: CallContext, package_id: str) -> tuple[EvaluationView, int]:
        details, evaluation = await asyncio.gather(
            self._upstream.get_evaluation_details(ctx, package_id),
            self._upstream.get_evaluation(ctx, package_id),
        )
        view = presenters.evaluation_view(package_id, details, evaluation)
        return view, self._settings.evaluation_cache_ttl_s

    async def update_evaluation(
        self,
        ctx: CallContext,
        package_id: str,
        update: EvaluationSettingsUpdate,
        precondition: Precondition | None = None,
    ) -> EvaluationView:
        """PUT the settings (which re-evaluates upstream), then read the fresh result. With
        ``If-Match``, only when the settings are still those the caller read (412 else):
        read, compare and write under a short per-package lock, so two tabs cannot both pass."""
        if precondition is None:
            return await self._put_evaluation(ctx, package_id, update)
        lock = package_keys.evaluation_lock(ctx.partner_id, package_id)
        token = new_token()
        if not await self._cache.acquire_lock(lock, token, ttl_s=package_keys.EVALUATION_LOCK_TTL_S):
            raise Conflict("another change of these settings is being saved; read them again")
        try:
            current = presenters.evaluation_settings(
                await self._upstream.get_evaluation_details(ctx, package_id)
            )
            if not precondition.allows(presenters.settings_etag(current)):
                raise PreconditionFailed(
                    "the evaluation settings changed since you read them; read them again and reapply"
                )
            return await self._put_evaluation(ctx, package_id, update)
        finally:
            await self._cache.release_lock(lock, token)

    async def _put_evaluation(
        self, ctx: CallContext, package_id: str, update: EvaluationSettingsUpdate
    ) -> EvaluationView:
        details = EvaluationDetails(
            backhaul_evaluation_attribution_window=update.attribution_window_days,
            backhaul_evaluation_model=update.model,
            email_sent_date=update.email_sent_date.isoformat() if update.email_sent_date else None,
        )
        keys = self._cache_keys(ctx, package_id)
        await self._cache.invalidate(*keys)  # fails (503) before the upstream is touched
        await self._upstream.put_evaluation_details(ctx, package_id, details)
        await self._cache.invalidate(*keys)  # fills begun meanwhile read the old settings
        return await self.evaluation(ctx, package_id)

    @staticmethod
    def _cache_keys(ctx: CallContext, package_id: str) -> tuple[str, str]:
        """Everything cached about one package: its evaluation and its results page."""
        return (
            package_keys.evaluation_cache(ctx.partner_id, package_id),
            package_keys.package_view_cache(ctx.partner_id, package_id),
        )

    async def open_customer_list(self, ctx: CallContext, package_id: str, tc: str) -> CustomerListStream:
        return await self._upstream.stream_customer_list(ctx, package_id, tc)

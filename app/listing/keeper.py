"""ListKeeper: pages of the kept list, and the refreshes that keep it.

Serving: a page is one script call that reads the rows it returns (``lua/read.lua``) and, in
the same call, claims the partner's refresh when it is due. Refreshing: the claimer (a
reader of any replica, or the worker's poll) makes the one upstream list call of the
interval; a reader that claimed it answers from the kept rows at once and refreshes in the
background (stale-while-revalidate). A read waits only when the partner has not been read
for a while (see ``_serve``): the first of a partner, or after a pause; readers waiting in
the same process share one fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.kit import flights
from app.kit.flights import SingleFlight
from app.kit.locks import new_token
from app.kit.retry import REDIS_ERRORS
from app.kit.settings import Settings
from app.listing.offload import ListHelpers, keep_body
from app.listing.rows import (
    HasStatus,
    KeptRow,
    Listed,
    PackageIndex,
    PageQuery,
    addressable,
    bound_after,
    cursor_after,
    kept_row,
    progress_of,
)
from app.listing.store import Claim, KeptListStore, ReadRows, RowsById, Timing, order_sets
from app.observability.metrics import count_list_refresh
from app.upstream import CallContext, PackageBuilderClient, UpstreamError, UpstreamTimeout
from app.upstream.client import parse_package_list
from app.upstream.models import ListedPackage, PackageHead

logger = logging.getLogger("app.listing")

SEARCH_BUDGET = 1024  # rows one search request looks at, at most (about 1.5 ms of Redis)
ROWS_PER_CALL = 1000  # ids one script call reads
WAIT_POLL_S = 0.02
LEASE_MARGIN_S = 5.0  # the refresh lock outlives the list call's own deadline by this
REVALIDATE_WAIT_S = 3.0  # a read of rows too old to serve offhand waits this long for fresh ones
MAX_READS = 8  # a read that keeps finding others' refreshes in flight gives up (504)

# Told of every list fetched from the upstream (the API watches the builds it shows): of its
# packages, or of those still building when a helper process read the list.
OnFetch = Callable[[CallContext, Sequence[Listed], int], Awaitable[None]]
# Told of the whole list as read (the worker's poll).
OnList = Callable[[CallContext, Sequence[ListedPackage], int], Awaitable[None]]


class _Claimed(Protocol):
    @property
    def claim(self) -> Claim: ...


ReadT = TypeVar("ReadT", bound=_Claimed)


@dataclass(frozen=True, slots=True)
class KeptPage:
    """A page as served: the rows' JSON, the cursor after them, and their age."""

    rows: list[str]
    next_cursor: str | None
    age_s: float  # since the upstream read of the kept rows began
    scanned: int = 0  # rows a search looked at: what the page cost Redis beyond its rows

    def body(self) -> bytes:
        """``PackageList`` as JSON: the stored rows joined, nothing parsed or re-serialised."""
        return f'{{"items":[{",".join(self.rows)}],"next_cursor":{json.dumps(self.next_cursor)}}}'.encode()


@dataclass(frozen=True, slots=True)
class PollReading:
    """The watched packages as the kept list has them, for the worker's poll."""

    packages: dict[str, PackageHead | None]  # None: not in the kept list
    observed_at_ms: int  # when the upstream read they come from began (Redis clock)
    fresh: bool  # read less than a poll (and a refresh) interval ago, or by this very call
    list_bytes: int  # what the partner's rows weigh: the poller's measure of a list call


def _head(package: ListedPackage | None) -> PackageHead | None:
    if package is None:
        return None
    return PackageHead(
        id=package.id,
        status=package.status,
        progress=package.progress,
        title=package.title,
        merge_id=package.merge_id,
    )


class ListKeeper:
    """One per process; holds only its collaborators and the refreshes it runs."""

    def __init__(
        self,
        redis: Redis,
        upstream: PackageBuilderClient,
        settings: Settings,
        *,
        on_fetch: OnFetch | None = None,
    ) -> None:
        self._lease_s = settings.upstream_timeout_s * (settings.upstream_retries + 1) + LEASE_MARGIN_S
        self._timing = Timing(
            refresh_ms=int(settings.list_refresh_s * 1000),
            lease_ms=int(self._lease_s * 1000),
            ttl_ms=settings.list_ttl_s * 1000,
            stale_ms=settings.list_stale_if_error_s * 1000,
        )
        self._store = KeptListStore(redis, self._timing)
        # A poll may take the kept rows for a reading of its own when they are no older than
        # a poll interval (nor, of course, than a refresh interval).
        self._poll_fresh_ms = int(min(settings.list_refresh_s, settings.poll_interval_s) * 1000)
        self._revalidate_ms = settings.list_stale_while_revalidate_s * 1000
        self._upstream = upstream
        self._on_fetch = on_fetch
        self._helpers = ListHelpers(settings, self._timing)
        self._background: set[asyncio.Task[bool]] = set()
        self._fetches: SingleFlight[str, int] = SingleFlight()  # partner → its first read in flight

    async def aclose(self) -> None:
        """Stop the background refreshes (their locks expire with their lease) and the
        helper processes."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._helpers.close()

    # -- reads --------------------------------------------------------------------------------

    async def page(self, ctx: CallContext, query: PageQuery) -> KeptPage:
        """A page of the kept list (fetched first when none is kept). A search looks at
        ``SEARCH_BUDGET`` rows at most, whatever the list's length: when they hold fewer
        matches than the page, the page is short (even empty) and its ``next_cursor`` goes on
        after the last row looked at."""
        count, sets, partner = query.limit + 1, order_sets(query.statuses), ctx.partner_id

        def read(token: str) -> Awaitable[ReadRows]:
            return self._store.read(
                partner,
                token=token,
                bound=bound_after(query.after),
                count=count,
                sets=sets,
                needle=query.needle,
                budget=SEARCH_BUDGET,
            )

        found = await self._serve(ctx, read)
        rows = found.rows
        if len(rows) > query.limit:
            last: str | None = rows[query.limit - 1][0]
        else:
            last = found.resume or None  # the scan stopped short: go on after what it saw
        return KeptPage(
            [row for _, row in rows[: query.limit]],
            cursor_after(last) if last else None,
            found.claim.age_ms / 1000,
            scanned=found.scanned,
        )

    async def merged_from(self, ctx: CallContext, package_id: str) -> list[str] | None:
        """The kept row's ``merged_from`` (resolved against the whole list when it was
        kept); None when the list has no such row."""

        def read(token: str) -> Awaitable[RowsById]:
            return self._store.rows(ctx.partner_id, [package_id], token=token, reader=True)

        [row] = (await self._serve(ctx, read)).rows
        if row is None:
            return None
        parts: list[str] = json.loads(row)["merged_from"]
        return parts

    async def _serve(self, ctx: CallContext, read: Callable[[str], Awaitable[ReadT]]) -> ReadT:
        """``read`` until it finds rows it may serve (RFC 5861's two windows):

        - younger than ``BFF_LIST_STALE_WHILE_REVALIDATE_S``: served at once; when this read
          claimed the refresh, it runs in the background;
        - older, but younger than ``BFF_LIST_STALE_IF_ERROR_S``: the refresh (this read's, or
          another process's in flight) is awaited for ``REVALIDATE_WAIT_S`` at most, then
          the fresh rows are served, or these with their ``Age`` when it failed or is slow;
        - none kept, or older still: the read that claimed the refresh fetches now and the
          others wait for it (in this process on its fetch, elsewhere until its lock is
          released); its upstream error is the answer.
        """
        loop = asyncio.get_running_loop()
        deadline, revalidating = loop.time() + self._lease_s, True
        for _ in range(MAX_READS):
            token = new_token()
            found = await read(token)
            claim = found.claim
            if claim.kept and claim.age_ms < self._timing.stale_ms:
                if claim.age_ms < self._revalidate_ms:
                    if claim.claimed:
                        self._refresh_later(ctx, token, claim.now_ms)
                    return found
                if not revalidating or not await self._revalidated(ctx, token, claim):
                    return found
                revalidating = False  # one wait at most: then these rows, or fresher ones
            elif claim.claimed:
                await self._fetch_now(ctx, token, claim.now_ms)
            else:
                await self._wait_for_fetch(ctx.partner_id, deadline)
        raise UpstreamTimeout("the partner's package list could not be read in time")

    async def _revalidated(self, ctx: CallContext, token: str, claim: Claim) -> bool:
        """Whether a refresh of rows too old to serve offhand succeeded within
        ``REVALIDATE_WAIT_S`` (a slow one goes on in the background)."""
        if claim.claimed:
            task = self._refresh_later(ctx, token, claim.now_ms)
            try:
                async with asyncio.timeout(REVALIDATE_WAIT_S):
                    return await asyncio.shield(task)
            except TimeoutError:
                return False
        loop = asyncio.get_running_loop()
        until = loop.time() + REVALIDATE_WAIT_S
        held = False
        while await self._store.lock_held(ctx.partner_id) and loop.time() < until:
            held = True
            await asyncio.sleep(WAIT_POLL_S)
        return held  # read again: fresh if that refresh succeeded, else served as it is

    async def _fetch_now(self, ctx: CallContext, token: str, started_ms: int) -> None:
        """The first read's fetch, shared by this process's readers of the partner (a reader
        that goes away does not cancel it); its upstream error is theirs too."""
        await flights.wait(self._fetches.start(ctx.partner_id, self._refresh(ctx, token, started_ms)))

    async def _wait_for_fetch(self, partner_id: str, deadline: float) -> None:
        flight = self._fetches.running(partner_id)
        if flight is not None:
            await flights.wait(flight)
            return
        loop = asyncio.get_running_loop()
        while await self._store.lock_held(partner_id):
            if loop.time() >= deadline:
                raise UpstreamTimeout("the partner's package list is still being fetched")
            await asyncio.sleep(WAIT_POLL_S)

    # -- refreshes ------------------------------------------------------------------------------

    def _refresh_later(self, ctx: CallContext, token: str, started_ms: int) -> asyncio.Task[bool]:
        task = asyncio.create_task(self._refresh_quietly(ctx, token, started_ms))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _refresh_quietly(self, ctx: CallContext, token: str, started_ms: int) -> bool:
        """A background refresh: its failure leaves the kept rows as they were (served with
        their ``Age``); the next read after one interval tries again."""
        try:
            await self._refresh(ctx, token, started_ms)
        except UpstreamError as exc:
            logger.warning("package list of %s not refreshed: %s", ctx.partner_id, exc.detail)
        except REDIS_ERRORS as exc:
            logger.warning("package list of %s not kept: %r", ctx.partner_id, exc)
        except Exception:
            logger.exception("package list refresh of %s failed", ctx.partner_id)
        else:
            return True
        return False

    async def _refresh(
        self, ctx: CallContext, token: str, started_ms: int, also: OnList | None = None
    ) -> int:
        """The interval's list call, under the lock ``token`` holds; the rows written (the
        lock released with them), ``on_fetch`` and ``also`` told of the list. A long list
        read for a reader is kept by a helper process (``offload``): its parse must not hold
        this event loop. Returns the list's weight in bytes."""
        body = await self._fetch(ctx, token)
        try:
            if also is None and self._helpers.enabled and len(body) >= self._helpers.min_bytes:
                kept = await self._helpers.keep(ctx.partner_id, body, started_ms=started_ms, token=token)
                if kept.building and self._on_fetch is not None:
                    await self._on_fetch(ctx, kept.building, started_ms)
            else:
                packages = parse_package_list(body)
                if self._on_fetch is not None:
                    await self._on_fetch(ctx, packages, started_ms)
                if also is not None:
                    await also(ctx, packages, started_ms)
                kept = await keep_body(
                    self._store, ctx.partner_id, body, packages, started_ms=started_ms, token=token
                )
        except BaseException:
            await self._release_quietly(ctx.partner_id, token)
            raise
        count_list_refresh({-1: "superseded", 1: "unchanged"}.get(kept.outcome, "changed"))
        return len(body)

    async def _fetch(self, ctx: CallContext, token: str) -> bytes:
        try:
            return await self._upstream.list_packages_body(ctx)
        except BaseException:
            count_list_refresh("failed")
            await self._release_quietly(ctx.partner_id, token)
            raise

    async def _release_quietly(self, partner_id: str, token: str) -> None:
        """Free the lock at once (safe: the claim already set when the next one is due);
        if Redis does not answer, the lock expires with its lease."""
        with contextlib.suppress(RedisError, OSError):
            await asyncio.shield(self._store.release(partner_id, token))

    # -- the worker's poll ----------------------------------------------------------------------

    async def for_poll(
        self, ctx: CallContext, package_ids: Sequence[str], *, may_refresh: bool
    ) -> PollReading | None:
        """The watched packages from the kept list; None when none is kept (nobody read the
        partner's list lately: the poll reads the upstream as it always did). With
        ``may_refresh``, a kept list due for its refresh is refreshed by this call: the
        poll's list call is then the interval's one, for readers too."""
        partner = ctx.partner_id
        token = new_token() if may_refresh else ""
        chunks = [package_ids[i : i + ROWS_PER_CALL] for i in range(0, len(package_ids), ROWS_PER_CALL)]
        first = await self._store.rows(partner, chunks[0] if chunks else [], token=token, reader=False)
        claim = first.claim
        if not claim.kept:
            return None
        if claim.claimed:
            fetched: dict[str, ListedPackage] = {}

            async def keep(_: CallContext, packages: Sequence[ListedPackage], __: int) -> None:
                fetched.update((package.id, package) for package in packages)

            size = await self._refresh(ctx, token, claim.now_ms, keep)
            packages = {package_id: _head(fetched.get(package_id)) for package_id in package_ids}
            return PollReading(packages, claim.now_ms, fresh=True, list_bytes=size)
        stored = list(first.rows)
        for chunk in chunks[1:]:
            stored += (await self._store.rows(partner, chunk, token="", reader=False)).rows
        packages = {
            package_id: PackageHead.model_validate_json(row) if row else None
            for package_id, row in zip(package_ids, stored, strict=True)
        }
        fresh = claim.age_ms < self._poll_fresh_ms
        return PollReading(packages, first.at_ms, fresh=fresh, list_bytes=first.list_bytes)

    # -- writes after the kept read -------------------------------------------------------------

    async def is_kept(self, partner_id: str) -> bool:
        return await self._store.is_kept(partner_id)

    async def record(
        self, partner_id: str, package: ListedPackage, observed_ms: int, index: PackageIndex | None = None
    ) -> bool:
        """A package read at ``observed_ms`` (the BFF's own new one): its row, kept at once.
        Nothing when no list is kept (the first read fetches it with the rest)."""
        if not addressable(package):
            return False
        row = kept_row(package, index)
        return bool(await self._store.upsert(partner_id, [(row, None)], observed_ms=observed_ms))

    async def observe(self, partner_id: str, packages: Sequence[HasStatus], observed_ms: int) -> int:
        """Statuses read at ``observed_ms``: the rows of those that changed, changed at once
        (each only if no newer read wrote it meanwhile). Returns how many changed."""
        if not packages:
            return 0
        stored = await self._store.stored(partner_id, [package.id for package in packages])
        changes: list[tuple[KeptRow, str | None]] = []
        for package, value in zip(packages, stored, strict=True):
            if value is None:
                continue
            row = KeptRow.parse(package.id, value)
            summary = row.summary()
            progress = progress_of(package)
            if summary["status"] == package.status and summary["progress"] == progress:
                continue
            summary["status"], summary["progress"] = package.status, progress
            changes.append((row.with_row(summary), value))
        return await self._store.upsert(partner_id, changes, observed_ms=observed_ms)

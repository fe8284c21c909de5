"""Pages of the kept list (Lua over Redis sorted sets) are the pages the old in-memory sort
gives, for any rows: ties of created time, odd ids, statuses the guide does not name,
searches that scan past one call's budget, several statuses at once, any cursor."""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import uuid
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kit.cursors import decode_cursor
from app.kit.settings import Settings
from app.listing import keeper as keeper_module
from app.listing.keeper import ListKeeper
from app.listing.rows import KeptRow, PageQuery, cursor_after, kept_rows, page_in_memory
from app.listing.store import KeptListStore, Timing, order_sets
from app.upstream import CallContext, PackageBuilderClient
from app.upstream.models import ListedPackage, PackageState

STATUSES = ["INITIALIZING", "INPROGRESS", "DONE", "FAILED", "EXPIRED", "ARCHIVED"]

ALL_ROWS = order_sets(frozenset())  # a page of every row, whatever the status


class FixedList:
    """The upstream's list, as the test sets it; counts the calls."""

    def __init__(self, packages: list[ListedPackage]) -> None:
        self.packages = packages
        self.calls = 0

    async def list_packages_body(self, ctx: CallContext) -> bytes:
        self.calls += 1
        return json.dumps([package.model_dump() for package in self.packages]).encode()


def keeper_of(
    redis: Any, packages: list[ListedPackage], settings: Settings | None = None
) -> tuple[ListKeeper, FixedList]:
    """A keeper of this list that parses it on the loop (``settings`` may say otherwise)."""
    upstream = FixedList(packages)
    settings = settings or Settings(list_helper_processes=0)
    return ListKeeper(redis, cast(PackageBuilderClient, upstream), settings), upstream


async def apply(
    store: KeptListStore, partner: str, rows: list[KeptRow], *, started_ms: int, token: str
) -> int:
    """A refresh's rows written as the keeper writes them (a digest of its own each time)."""
    return await store.apply(
        partner, rows, digest=uuid.uuid4().hex, size=0, started_ms=started_ms, token=token
    )


def context() -> CallContext:
    return CallContext("Bearer x", "p-pages-" + uuid.uuid4().hex[:10])


packages_strategy = st.lists(
    st.builds(
        lambda n, title, status, second, mode: ListedPackage.model_validate(
            {
                "id": n,
                "title": title,
                "status": status,
                "created_at": None if second is None else f"2026-05-15T10:30:{second:02d}Z",
                "targeting_mode": mode,
                "merge_id": None,
                "events": [{"id": 1, "title": "Konzert"}],
            }
        ),
        st.one_of(st.text("a7_-Z", min_size=1, max_size=6), st.integers(0, 99).map(str)),
        st.one_of(st.none(), st.text("abcABÄäßẞ ", max_size=8)),
        st.sampled_from(STATUSES),
        st.one_of(st.none(), st.integers(0, 3)),
        st.just("lookalike"),
    ),
    max_size=40,
    unique_by=lambda p: p.id,
)


def walk_in_memory(rows: list[KeptRow], query: PageQuery) -> list[list[str]]:
    pages = []
    while True:
        page, last = page_in_memory(rows, query)
        pages.append(page)
        if last is None:
            return pages
        query = PageQuery(query.statuses, query.needle, query.limit, decode_cursor(cursor_after(last)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    packages=packages_strategy,
    statuses=st.sets(st.sampled_from(STATUSES[:5]), max_size=3),
    needle=st.sampled_from(["", "a", "ä", "ss", "7", "zz"]),
    limit=st.integers(1, 7),
    budget=st.integers(1, 9),
)
async def test_every_walk_of_the_kept_list_is_the_in_memory_walk(
    redis, packages, statuses, needle, limit, budget, monkeypatch
):
    """The same rows in the same order; a search that runs out of its budget hands back a
    short page (even an empty one) whose cursor goes on where it stopped."""
    monkeypatch.setattr(keeper_module, "SEARCH_BUDGET", budget)
    keeper, upstream = keeper_of(redis, packages)
    ctx = context()
    query = PageQuery(frozenset(statuses), needle, limit, None)
    expected = walk_in_memory(kept_rows(packages), query)
    walked = []
    while True:
        page = await keeper.page(ctx, query)
        assert len(page.rows) <= limit and page.scanned <= (budget if needle else 0)
        walked.append(page.rows)
        if page.next_cursor is None:
            break
        query = PageQuery(query.statuses, needle, limit, decode_cursor(page.next_cursor))
    if needle:
        assert [row for rows in walked for row in rows] == [row for rows in expected for row in rows]
    else:
        assert walked == expected
    assert upstream.calls == 1


async def test_a_long_list_is_kept_by_a_helper_process_and_searched_a_bounded_slice_at_a_time(
    redis, redis_server
):
    packages = [
        ListedPackage.model_validate({"id": f"p{n}", "title": "a title " * 8, "status": "DONE"})
        for n in range(3000)
    ]
    settings = Settings(redis_url=redis_server.url, list_helper_processes=1, list_helper_min_bytes=1024)
    keeper, _ = keeper_of(redis, packages, settings)
    ctx = context()
    first = await keeper.page(ctx, PageQuery(frozenset(), "", 3, None))
    assert [json.loads(row)["id"] for row in first.rows] == ["p999", "p998", "p997"]  # by id, no dates
    assert multiprocessing.active_children(), "parsed in a helper process"
    query = PageQuery(frozenset(), "zzzz", 50, None)
    pages = 0
    while True:
        page = await keeper.page(ctx, query)
        pages += 1
        assert page.rows == [] and page.scanned <= keeper_module.SEARCH_BUDGET
        if page.next_cursor is None:
            break
        query = PageQuery(frozenset(), "zzzz", 50, decode_cursor(page.next_cursor))
    assert pages == -(-3000 // keeper_module.SEARCH_BUDGET)  # each page went on from the last
    await keeper.aclose()


async def test_a_refresh_rewrites_only_what_changed_and_drops_what_is_gone(redis):
    packages = [
        ListedPackage.model_validate({"id": str(n), "status": "DONE", "created_at": "2026-01-01T00:00:00Z"})
        for n in range(5)
    ]
    keeper, upstream = keeper_of(redis, packages)
    ctx = context()
    query = PageQuery(frozenset(), "", 10, None)
    assert [json.loads(r)["id"] for r in (await keeper.page(ctx, query)).rows] == ["4", "3", "2", "1", "0"]
    upstream.packages = [*packages[1:4], packages[4].model_copy(update={"status": "EXPIRED"})]
    rows = kept_rows(upstream.packages)
    store = KeptListStore(redis, Timing(refresh_ms=2000, lease_ms=5000, ttl_ms=60_000, stale_ms=60_000))
    assert await apply(store, ctx.partner_id, rows, started_ms=2**50, token="t") == 2  # a later read
    page = await keeper.page(ctx, query)
    assert [json.loads(r)["id"] for r in page.rows] == ["4", "3", "2", "1"]
    expired = await keeper.page(ctx, PageQuery(frozenset({"EXPIRED"}), "", 10, None))
    assert [json.loads(r)["id"] for r in expired.rows] == ["4"]
    assert (await keeper.page(ctx, PageQuery(frozenset({"DONE"}), "", 10, None))).rows == [
        r.json for r in rows[:3][::-1]
    ]


async def test_a_status_observed_after_the_kept_read_changes_its_row_and_a_stale_one_does_not(redis):
    packages = [ListedPackage.model_validate({"id": "9", "status": "INPROGRESS", "progress": 20})]
    keeper, _ = keeper_of(redis, packages)
    ctx = context()
    query = PageQuery(frozenset(), "", 10, None)
    await keeper.page(ctx, query)
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    older = PackageState(id="9", status="INPROGRESS", progress=10)
    assert await keeper.observe(ctx.partner_id, [older], now_ms - 60_000) == 0, "read before the kept list"
    done = PackageState(id="9", status="DONE")
    assert await keeper.observe(ctx.partner_id, [done], now_ms + 1) == 1
    [row] = (await keeper.page(ctx, query)).rows
    assert json.loads(row)["status"] == "DONE" and json.loads(row)["progress"] == 100
    assert [
        json.loads(r)["id"]
        for r in (await keeper.page(ctx, PageQuery(frozenset({"DONE"}), "", 9, None))).rows
    ] == ["9"]
    assert not (await keeper.page(ctx, PageQuery(frozenset({"INPROGRESS"}), "", 9, None))).rows


@pytest.mark.parametrize("stamp", [1e300, -1e300, 0.0, -1e12])
async def test_a_forged_cursor_stamp_far_out_is_a_position_at_an_end(redis, stamp):
    packages = [
        ListedPackage.model_validate({"id": "1", "status": "DONE", "created_at": "2026-01-01T00:00:00Z"})
    ]
    keeper, _ = keeper_of(redis, packages)
    page = await keeper.page(context(), PageQuery(frozenset(), "", 5, (stamp, "x")))
    assert len(page.rows) == (1 if stamp > 1e9 else 0)


async def test_refreshes_are_claimed_once_per_interval_whatever_their_outcome(redis):
    """Readers race for the refresh in a tight loop; every other claimed refresh fails (the
    lock is released, nothing written). Claims are still an interval apart: a failing
    upstream is asked once per interval, a working one too."""
    refresh_ms = 200
    store = KeptListStore(redis, Timing(refresh_ms=refresh_ms, lease_ms=5000, ttl_ms=60_000, stale_ms=60_000))
    partner = context().partner_id
    rows = kept_rows([ListedPackage.model_validate({"id": "1", "status": "DONE"})])
    first = await store.read(partner, token="first", bound="+", count=1, sets=ALL_ROWS)
    assert first.claim.claimed and not first.claim.kept
    await apply(store, partner, rows, started_ms=first.claim.now_ms, token="first")
    claims: list[int] = []
    while len(claims) < 6:
        token = uuid.uuid4().hex
        readers = await asyncio.gather(
            *(store.read(partner, token=token + str(n), bound="+", count=1, sets=ALL_ROWS) for n in range(4))
        )
        for n, read in enumerate(readers):
            assert read.claim.kept and len(read.rows) == 1
            if read.claim.claimed:
                claims.append(read.claim.now_ms)
                if len(claims) % 2:
                    await store.release(partner, token + str(n))  # the upstream failed
                else:
                    await apply(store, partner, rows, started_ms=read.claim.now_ms, token=token + str(n))
    assert all(later - earlier >= refresh_ms for earlier, later in itertools.pairwise(claims))


async def test_observing_nothing_changes_nothing(redis):
    keeper, _ = keeper_of(redis, [])
    assert await keeper.observe(context().partner_id, [], 0) == 0

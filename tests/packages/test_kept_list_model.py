"""The kept list's scripts (app/listing/lua/) against a plain Python model, under hypothesis's
stateful testing, on the test Redis.

The model is a dict of rows (``KeptRow``) and the rules the scripts promise: a refresh
replaces every row unless a newer read is kept already; a row read after the kept ones is
written when its read is not older than the row's and the row is still the one the caller
saw. After every step, every page of every query the SPA can make (all rows, each status,
two statuses, a search) walked cursor by cursor is ``page_in_memory`` of the model's rows:
the same pages the API serves from the upstream's list when Redis is away.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from app.listing.rows import STATUS_CODES, KeptRow, PageQuery, kept_row, kept_rows, page_in_memory
from app.listing.store import KeptListStore, Timing, list_keys, order_sets
from app.upstream.models import ListedPackage

TIMING = Timing(refresh_ms=60_000, lease_ms=5_000, ttl_ms=600_000, stale_ms=600_000)
IDS = [f"pkg_{n}" for n in range(1, 7)]
STATUSES = [*STATUS_CODES, "ARCHIVED"]  # and one the guide does not name: listed, never indexed
QUERIES = [
    PageQuery(frozenset(), "", 2, None),
    PageQuery(frozenset({"DONE"}), "", 2, None),
    PageQuery(frozenset({"INPROGRESS", "FAILED"}), "", 3, None),
    PageQuery(frozenset(), "a", 2, None),
    PageQuery(frozenset({"DONE", "EXPIRED"}), "b", 1, None),
    PageQuery(frozenset({"ARCHIVED"}), "", 2, None),  # no set: always empty
]

packages = st.builds(
    lambda package_id, status, created, title: ListedPackage.model_validate(
        {"id": package_id, "status": status, "created_at": created, "title": title}
    ),
    st.sampled_from(IDS),
    st.sampled_from(STATUSES),
    st.sampled_from([None, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "not a date"]),
    st.sampled_from([None, "a", "ab", "ba", "B"]),
)
package_lists = st.lists(packages, max_size=6, unique_by=lambda package: package.id)


class KeptListMachine(RuleBasedStateMachine):
    redis_url: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(self.redis_url, decode_responses=True)
        self.store = KeptListStore(self.redis, TIMING)
        self.partner = f"model-{uuid.uuid4().hex[:12]}"
        self.rows: dict[str, KeptRow] = {}
        self.kept_at: int | None = None
        self.touched: dict[str, int] = {}
        self.ticks = itertools.count(self.run(self.redis.time())[0] * 1000)

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def teardown(self) -> None:
        self.run(self.redis.delete(*list_keys(self.partner)))
        self.run(self.redis.aclose())
        self.loop.close()

    # -- steps ------------------------------------------------------------------------------

    @rule(listed=package_lists)
    def refresh(self, listed: list[ListedPackage]) -> None:
        """A refresh that read the list now: the kept rows become the list's."""
        started = next(self.ticks)
        self._refresh(listed, started)
        self.rows = {row.id: row for row in kept_rows(listed)}
        self.kept_at = started
        self.touched = {}

    @precondition(lambda self: self.kept_at is not None)
    @rule(listed=package_lists)
    def refresh_older_than_the_kept_one(self, listed: list[ListedPackage]) -> None:
        """A refresh whose read began before the kept one's changes nothing."""
        assert self.kept_at is not None
        self._refresh(listed, self.kept_at - 1)

    @rule(package=packages, expect=st.sampled_from(["current", "any", "other"]))
    def upsert(self, package: ListedPackage, expect: str) -> None:
        """A row read after the kept ones (the BFF's own write, a status observed), with
        the value the caller saw: the current one, any ('*'), or one that is not there."""
        observed = next(self.ticks)
        row = kept_row(package)
        current = self.rows.get(row.id)
        expected = {"current": current.value if current else "", "any": None, "other": "x"}[expect]
        self.run(self.store.upsert(self.partner, [(row, expected)], observed_ms=observed))
        if self.kept_at is None:
            return  # no list kept: the first read fetches it whole
        matches = expected is None or (current.value if current else None) == expected
        if matches and (current is None or current.value != row.value):
            self.rows[row.id] = row
            self.touched[row.id] = observed

    @precondition(lambda self: self.kept_at is not None)
    @rule(package=packages)
    def upsert_read_before_the_kept_list(self, package: ListedPackage) -> None:
        """A row read before the kept list (or the row's last write) changes nothing."""
        row = kept_row(package)
        since = self.touched.get(row.id, self.kept_at)
        assert since is not None
        self.run(self.store.upsert(self.partner, [(row, None)], observed_ms=since - 1))

    def _refresh(self, listed: list[ListedPackage], started: int) -> None:
        rows = kept_rows(listed)
        digest = "|".join(row.value for row in rows)  # the same list, the same digest
        size = len(digest)
        token = uuid.uuid4().hex
        if self.run(
            self.store.check(self.partner, digest=digest, size=size, started_ms=started, token=token)
        ):
            return
        self.run(
            self.store.apply(self.partner, rows, digest=digest, size=size, started_ms=started, token=token)
        )

    # -- what must hold after every step ----------------------------------------------------

    @invariant()
    def every_page_walked_by_its_cursors_is_the_models(self) -> None:
        for query in QUERIES:
            bound, seen = "+", 0
            while True:
                read = self.run(
                    self.store.read(
                        self.partner,
                        token="",
                        bound=bound,
                        count=query.limit + 1,
                        sets=order_sets(query.statuses),
                        needle=query.needle,
                        budget=10_000,
                    )
                )
                assert read.claim.kept == (self.kept_at is not None)
                after = None if bound == "+" else bound[1:]
                rest = [row for row in self.rows.values() if after is None or row.position < after]
                expected, more = page_in_memory(rest, query)
                got = [json for _, json in read.rows[: query.limit]]
                assert got == expected, (query, bound)
                has_more = len(read.rows) > query.limit
                assert has_more == (more is not None), (query, bound)
                seen += len(got)
                if not has_more:
                    break
                bound = "(" + read.rows[query.limit - 1][0]
            assert seen == sum(1 for row in self.rows.values() if query.wants(row)), query

    @invariant()
    def rows_by_id_are_the_models(self) -> None:
        found = self.run(self.store.rows(self.partner, IDS, token="", reader=False))
        if self.kept_at is None:
            assert not found.claim.kept
            return
        assert found.rows == [self.rows[i].json if i in self.rows else None for i in IDS]


def test_the_kept_list_behaves_as_its_model(redis_server):
    KeptListMachine.redis_url = redis_server.url
    run_state_machine_as_test(
        KeptListMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

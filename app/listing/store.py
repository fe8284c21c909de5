"""The kept list in Redis: one Lua script per operation (``listing/lua/``), each a single
round trip, except a refresh that found changes (it reads the kept rows back first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.kit import lua
from app.kit.locks import TokenLocks
from app.listing import keys as listing_keys
from app.listing.rows import STATUS_CODES, KeptRow

SCAN_COUNT = 1000  # rows one HSCAN step reads back: Redis serves others between steps


def list_keys(partner_id: str) -> list[str]:
    """The keys of one partner's kept list, in the scripts' order (``lua/kept_list.lua``)."""
    return [
        listing_keys.list_meta(partner_id),
        listing_keys.list_lock(partner_id),
        listing_keys.list_rows(partner_id),
        listing_keys.list_search(partner_id),
        listing_keys.list_touched(partner_id),
        listing_keys.list_order(partner_id),
        *(listing_keys.list_order(partner_id, status) for status in STATUS_CODES),
    ]


def order_sets(statuses: frozenset[str]) -> str:
    """Which sorted sets a page reads: ``all`` rows, or the status codes asked (none of them
    indexed: no set, an empty page)."""
    if not statuses:
        return "all"
    return ",".join(STATUS_CODES[s] for s in sorted(statuses) if s in STATUS_CODES)


@dataclass(frozen=True, slots=True)
class Claim:
    """What every read reports besides its rows: whether a list is kept, how old it is (ms),
    whether this read claimed its refresh, and the Redis clock (ms) when it was read."""

    kept: bool
    age_ms: int
    claimed: bool
    now_ms: int


@dataclass(frozen=True, slots=True)
class ReadRows:
    claim: Claim
    rows: list[tuple[str, str]]  # (position, row JSON), newest first
    resume: str  # where a search that ran out of budget goes on ('' when it did not)
    scanned: int  # rows the search looked at (0 without one)


@dataclass(frozen=True, slots=True)
class RowsById:
    claim: Claim
    at_ms: int  # when the upstream read of the kept rows began
    list_bytes: int  # what the kept rows weigh
    rows: list[str | None]  # the JSON of each id asked, None when not kept


@dataclass(frozen=True, slots=True)
class Timing:
    """The claim's arguments: refresh interval, lock lease, TTL, stale-if-error (ms)."""

    refresh_ms: int
    lease_ms: int
    ttl_ms: int
    stale_ms: int

    def args(self, token: str, *, reader: bool) -> list[str | int]:
        role = "reader" if reader else "poller"
        return [self.refresh_ms, self.lease_ms, token, self.ttl_ms, self.stale_ms, role]


class KeptListStore:
    def __init__(self, redis: Redis, timing: Timing) -> None:
        self._redis = redis
        self._timing = timing
        self._read = lua.script(redis, "listing/lua/read.lua")
        self._rows = lua.script(redis, "listing/lua/rows.lua")
        self._apply = lua.script(redis, "listing/lua/apply.lua")
        self._upsert = lua.script(redis, "listing/lua/upsert.lua")
        self._locks = TokenLocks(redis)

    async def read(
        self,
        partner_id: str,
        *,
        token: str,
        bound: str,
        count: int,
        sets: str,
        needle: str = "",
        budget: int = 0,
    ) -> ReadRows:
        reply = await self._read(
            keys=list_keys(partner_id),
            args=[*self._timing.args(token, reader=True), bound, count, needle, budget, sets],
        )
        kept, age, claimed, now, resume, scanned, *flat = reply
        claim = Claim(bool(kept), int(age), bool(claimed), int(now))
        return ReadRows(claim, list(zip(flat[::2], flat[1::2], strict=True)), resume, int(scanned))

    async def rows(
        self, partner_id: str, package_ids: Sequence[str], *, token: str, reader: bool
    ) -> RowsById:
        args = [*self._timing.args(token, reader=reader), *package_ids]
        reply = await self._rows(keys=list_keys(partner_id), args=args)
        kept, age, claimed, now, at, size, *rows = reply
        claim = Claim(bool(kept), int(age), bool(claimed), int(now))
        return RowsById(claim, int(at), int(size), [row or None for row in rows])

    async def check(self, partner_id: str, *, digest: str, size: int, started_ms: int, token: str) -> int:
        """The first step of a refresh: -1 when a newer read is kept already, 1 when the list
        is the one the last refresh wrote (same digest, nothing written since: only the time
        moves, and the lock is released), 0 when its rows must be compared (``apply``)."""
        common: list[str | int] = [started_ms, digest, self._timing.ttl_ms, token]
        return int(await self._apply(keys=list_keys(partner_id), args=[*common, "check", size]))

    async def apply(
        self, partner_id: str, rows: Sequence[KeptRow], *, digest: str, size: int, started_ms: int, token: str
    ) -> int:
        """Write a refresh's rows after ``check`` said 0 (the lock is released with them): -1
        when a newer read is kept already, 2 when rows were written. The kept rows are read
        back and only the rows that differ are sent: Redis compares nothing itself, so a
        refresh of a long list blocks it for the rows written, not for the list."""
        keys = list_keys(partner_id)
        common: list[str | int] = [started_ms, digest, self._timing.ttl_ms, token]
        stored: dict[str, str] = {}
        touched: dict[str, str] = {}
        async for package_id, value in self._redis.hscan_iter(keys[2], count=SCAN_COUNT):
            stored[package_id] = value
        async for package_id, ms in self._redis.hscan_iter(keys[4], count=SCAN_COUNT):
            touched[package_id] = ms
        newer = {package_id for package_id, ms in touched.items() if int(ms) > started_ms}
        changes: list[str | int] = []
        for row in rows:
            value = row.value
            seen = stored.pop(row.id, "")
            if seen != value and row.id not in newer:
                changes += (row.id, value, row.search, seen)
        for package_id, seen in stored.items():  # kept rows the list no longer has
            if package_id not in newer:
                changes += (package_id, "", "", seen)
        flag = "1" if newer else "0"
        return int(await self._apply(keys=keys, args=[*common, "patch", size, flag, *changes]))

    async def upsert(
        self, partner_id: str, rows: Sequence[tuple[KeptRow, str | None]], *, observed_ms: int
    ) -> int:
        """Rows read at ``observed_ms``, each with the stored value it replaces (None: any)."""
        if not rows:
            return 0
        args: list[str | int] = [observed_ms]
        for row, expected in rows:
            args += (row.id, row.value, row.search, "*" if expected is None else expected)
        return int(await self._upsert(keys=list_keys(partner_id), args=args))

    async def stored(self, partner_id: str, package_ids: Sequence[str]) -> list[str | None]:
        """The stored values (position, status code and JSON) of these rows."""
        key = listing_keys.list_rows(partner_id)
        values: list[str | None] = await self._redis.hmget(key, list(package_ids))  # type: ignore[misc]
        return values

    async def is_kept(self, partner_id: str) -> bool:
        return bool(await self._redis.exists(listing_keys.list_meta(partner_id)))

    async def release(self, partner_id: str, token: str) -> None:
        await self._locks.release(listing_keys.list_lock(partner_id), token)

    async def lock_held(self, partner_id: str) -> bool:
        return await self._locks.held(listing_keys.list_lock(partner_id))

"""Drafts in Redis: one hash per draft, a sorted-set index per caller, sliding expiry.

Every conditional change is one Lua script, so a version check and the write it guards
cannot be split by another writer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from app.drafts import keys as draft_keys
from app.kit import lua

NOT_FOUND, STALE, SUBMITTED = -1, -2, -3


@dataclass(frozen=True, slots=True)
class DraftRecord:
    id: str
    step: str
    state: dict[str, Any]
    version: int
    created_at: float
    updated_at: float
    package_id: str | None

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> DraftRecord:
        return cls(
            id=fields["id"],
            step=fields["step"],
            state=json.loads(fields["state"]),
            version=int(fields["version"]),
            created_at=float(fields["created_at"]),
            updated_at=float(fields["updated_at"]),
            package_id=fields.get("package_id"),
        )


class DraftStore:
    """One caller's drafts (partner + sub); every read or write restarts the expiry."""

    def __init__(self, redis: Redis, partner_id: str, sub: str, ttl_s: int) -> None:
        self._redis = redis
        self._partner_id = partner_id
        self.sub = sub
        self._ttl_s = ttl_s
        self._index = draft_keys.draft_index(partner_id, sub)
        self._create = lua.script(redis, "drafts/lua/create.lua")
        self._replace = lua.script(redis, "drafts/lua/replace.lua")
        self._delete = lua.script(redis, "drafts/lua/delete.lua")
        self.submitted = lua.script(redis, "drafts/lua/submitted.lua")

    def _key(self, draft_id: str) -> str:
        return draft_keys.draft(self._partner_id, self.sub, draft_id)

    async def create(self, record: DraftRecord, state_json: str, *, cap: int) -> bool:
        """False when the caller already has ``cap`` drafts (expired ones do not count)."""
        keys = [self._key(record.id), self._index]
        args: list[str | int | float] = [
            cap,
            self._ttl_s,
            record.id,
            record.step,
            state_json,
            record.version,
            record.created_at,
            record.updated_at,
        ]
        if await self._create(keys=keys, args=args):
            return True
        await self.list(cap)  # drops the ids of drafts that expired, then try once more
        return bool(await self._create(keys=keys, args=args))

    async def get(self, draft_id: str) -> DraftRecord | None:
        key = self._key(draft_id)
        # No transaction (a cluster serves none): renewing the two TTLs needs no atomicity.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, self._ttl_s)
            pipe.expire(self._index, self._ttl_s)
            fields, _, _ = await pipe.execute()
        return DraftRecord.from_hash(fields) if fields else None

    async def list(self, limit: int) -> list[DraftRecord]:
        """Most recently changed first; ids whose draft expired are dropped from the index."""
        ids: list[str] = await self._redis.zrevrange(self._index, 0, limit - 1)
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for draft_id in ids:
                pipe.hgetall(self._key(draft_id))
                pipe.expire(self._key(draft_id), self._ttl_s)
            pipe.expire(self._index, self._ttl_s)
            replies = await pipe.execute()
        found = [DraftRecord.from_hash(fields) for fields in replies[0:-1:2] if fields]
        gone = [draft_id for draft_id, fields in zip(ids, replies[0:-1:2], strict=True) if not fields]
        if gone:
            await self._redis.zrem(self._index, *gone)
        return found

    async def replace(
        self, draft_id: str, *, expected_version: int, step: str, state_json: str, now: float
    ) -> int:
        """The new version, or NOT_FOUND / STALE / SUBMITTED."""
        keys = [self._key(draft_id), self._index]
        args: list[str | int | float] = [expected_version, step, state_json, now, self._ttl_s, draft_id]
        return int(await self._replace(keys=keys, args=args))

    async def delete(self, draft_id: str, *, expected_version: int) -> int:
        """1, or NOT_FOUND / STALE."""
        keys = [self._key(draft_id), self._index]
        return int(await self._delete(keys=keys, args=[expected_version, draft_id]))

    async def mark_submitted(self, draft_id: str, package_id: str, now: float) -> None:
        """Record the package made from the draft (a vanished draft is no error)."""
        keys = [self._key(draft_id), self._index]
        await self.submitted(keys=keys, args=[package_id, now, self._ttl_s, draft_id])

"""Locks with a token: a Redis key holding its holder's token, with a lease (``SET NX PX``).

Only the holder releases it (``kit/lua/lock.lua``: the release the scripts that take or drop a
lock themselves include); a holder that died leaves a lock that its lease frees. Used by the
cache's fills, the kept list's refreshes, the status polls and the idempotency markers (the
last three take theirs inside a script that decides more than the lock).
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from app.kit import lua


def new_token() -> str:
    """A holder's token: unguessable, so no other holder can release the lock by mistake."""
    return secrets.token_hex(8)


class TokenLocks:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._release = lua.script(redis, "kit/lua/release_lock.lua")

    async def acquire(self, key: str, token: str, *, lease_ms: int) -> bool:
        return bool(await self._redis.set(key, token, nx=True, px=lease_ms))

    async def release(self, key: str, token: str) -> bool:
        """True when the token still held the lock (and now does not)."""
        return bool(await self._release(keys=[key], args=[token]))

    async def held(self, key: str) -> bool:
        """Whether anyone holds the lock."""
        return bool(await self._redis.exists(key))

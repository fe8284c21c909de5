"""A Redis cache with single-flight fills: one upstream call per cold key, however many readers.

Within a process, concurrent misses of one key share one task; across processes, a Redis lock
lets one process fill while the others wait for its value. Invalidation bumps a generation
counter, so a fill that began before an invalidation never writes its stale answer. A cache
is an optimisation: when Redis fails, reads go straight to the upstream (still single-flight
within the process); only ``invalidate`` needs Redis, and raises when it is down.

``get_or_fill`` keeps typed values (validated on every hit); ``get_or_fill_text`` keeps
text that is served as it is stored (a view already serialised, with its ETag): no
validation and no serialisation on a hit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis

from app.kit import lua
from app.kit.flights import SingleFlight
from app.kit.locks import TokenLocks, new_token
from app.kit.retry import REDIS_ERRORS
from app.observability.metrics import count_cache

logger = logging.getLogger("app.cache")
T = TypeVar("T")
# A fill returns the value and how long to keep it (None: answer it, but do not keep it).
Fill = Callable[[], Awaitable[tuple[T, int | None]]]
POLL_S = 0.02

CACHE_LOCK_TTL_S = 15
CACHE_GENERATION_TTL_S = 24 * 3600


def cache_lock(cache_key: str) -> str:
    """Single-flight lock for filling ``cache_key`` across processes; TTL ``CACHE_LOCK_TTL_S``."""
    return f"{cache_key}:lock"


def cache_generation(cache_key: str) -> str:
    """Counter bumped by every invalidation, so a fill that started before it never writes;
    TTL ``CACHE_GENERATION_TTL_S``."""
    return f"{cache_key}:gen"


# (cache key, generation) → the fill running in this process.
_flights: SingleFlight[tuple[str, str], Any] = SingleFlight()


async def _shared(flight: tuple[str, str], start: Callable[[], Awaitable[T]]) -> T:
    """Join the flight for this key, or start it; a cancelled reader never cancels it."""
    result: T = await _flights.join(flight, start)
    return result


@dataclass(frozen=True, slots=True)
class _Codec(Generic[T]):
    decode: Callable[[str | None], T | None]  # None: a miss
    encode: Callable[[T], str | bytes]


def _typed(adapter: TypeAdapter[T]) -> _Codec[T]:
    return _Codec(lambda cached: _decode(adapter, cached), adapter.dump_json)


_TEXT: _Codec[str] = _Codec(lambda cached: cached, lambda text: text)


class Cache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._write = lua.script(redis, "kit/lua/write_if_current.lua")
        self._locks = TokenLocks(redis)

    async def get_or_fill(self, key: str, adapter: TypeAdapter[T], fill: Fill[T]) -> T:
        """The cached value, or ``fill()``'s, fetched once for all concurrent readers."""
        return await self._get_or_fill(key, _typed(adapter), fill)

    async def get_or_fill_text(self, key: str, fill: Fill[str]) -> str:
        """Like ``get_or_fill`` for text kept and served exactly as ``fill()`` made it."""
        return await self._get_or_fill(key, _TEXT, fill)

    async def _get_or_fill(self, key: str, codec: _Codec[T], fill: Fill[T]) -> T:
        """A hit is one GET; the generation is read only for a miss (its fill is keyed by
        the generation seen *after* the miss, so it never writes over a newer one)."""
        try:
            value = codec.decode(await self._redis.get(key))
            count_cache(key, "hit" if value is not None else "miss")
            if value is not None:
                return value
            generation = await self._redis.get(cache_generation(key))
        except REDIS_ERRORS as exc:
            logger.warning("cache unavailable, reading through: %s", exc)
            return await _shared((key, "offline"), lambda: _value_of(fill))
        generation = generation or "0"
        return await _shared((key, generation), lambda: self._fill_once(key, generation, codec, fill))

    async def invalidate(self, *keys: str) -> None:
        """Drop the entries and bump their generations (raises when Redis is down). Needs no
        transaction (a cluster serves none): each generation is bumped before its entry is
        dropped, so a fill that began before never writes (``write_if_current``), and one that
        began after and wrote already only loses its entry to the delete."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                counter = cache_generation(key)
                pipe.incr(counter)
                pipe.expire(counter, CACHE_GENERATION_TTL_S)
                pipe.delete(key)
            await pipe.execute()

    async def _fill_once(self, key: str, generation: str, codec: _Codec[T], fill: Fill[T]) -> T:
        """Fill under the cross-process lock, or wait for the process that holds it."""
        lock, token = cache_lock(key), new_token()
        deadline = time.monotonic() + CACHE_LOCK_TTL_S
        while True:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(lock, token, nx=True, ex=CACHE_LOCK_TTL_S)
                    pipe.get(key)
                    locked, cached = await pipe.execute()
            except REDIS_ERRORS as exc:
                logger.warning("cache lock unavailable, reading through: %s", exc)
                return await _value_of(fill)
            value = codec.decode(cached)
            if locked:
                try:
                    return (
                        value
                        if value is not None
                        else await self._fill_and_keep(key, generation, codec, fill)
                    )
                finally:
                    await self._unlock(lock, token)
            if value is not None:
                return value
            if time.monotonic() >= deadline:  # the holder is stuck: do not wait for ever
                return await _value_of(fill)
            await asyncio.sleep(POLL_S)

    async def _fill_and_keep(self, key: str, generation: str, codec: _Codec[T], fill: Fill[T]) -> T:
        value, ttl_s = await fill()
        if ttl_s:
            try:
                await self._write(
                    keys=[key, cache_generation(key)],
                    args=[generation, codec.encode(value), ttl_s],
                )
                count_cache(key, "fill")
            except REDIS_ERRORS as exc:
                logger.warning("could not keep %s: %s", key, exc)
        return value

    async def acquire_lock(self, key: str, token: str, *, ttl_s: int) -> bool:
        """A short lock a caller holds around a read-compare-write."""
        return await self._locks.acquire(key, token, lease_ms=ttl_s * 1000)

    async def release_lock(self, key: str, token: str) -> None:
        await self._unlock(key, token)

    async def _unlock(self, lock: str, token: str) -> None:
        try:
            await self._locks.release(lock, token)
        except REDIS_ERRORS as exc:  # the lock expires by itself
            logger.warning("could not release %s: %s", lock, exc)


async def _value_of(fill: Fill[T]) -> T:
    value, _ = await fill()
    return value


def _decode(adapter: TypeAdapter[T], cached: str | None) -> T | None:
    """A value written by an older release that no longer parses is a miss, not an error."""
    if cached is None:
        return None
    try:
        return adapter.validate_json(cached)
    except ValidationError:
        return None

"""Export records in Redis, keyed by partner (another partner's export is not found), with
an index per partner and per package for the newest-first list."""

from __future__ import annotations

from redis.asyncio import Redis

from app.exports import keys as export_keys
from app.exports.schemas import Export
from app.kit import lua


class ExportStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._create = lua.script(redis, "exports/lua/create.lua")

    async def create(self, partner_id: str, export: Export) -> None:
        """Save a new export and index it (both indices expire with the newest export)."""
        await self._create(
            keys=[
                export_keys.export(partner_id, export.id),
                export_keys.export_index(partner_id),
                export_keys.export_index(partner_id, export.package_id),
            ],
            args=[
                export.model_dump_json(),
                export.id,
                export.created_at.timestamp(),
                export_keys.EXPORT_TTL_S,
            ],
        )

    async def save(self, partner_id: str, export: Export) -> None:
        await self._redis.set(
            export_keys.export(partner_id, export.id), export.model_dump_json(), ex=export_keys.EXPORT_TTL_S
        )

    async def get(self, partner_id: str, export_id: str) -> Export | None:
        raw = await self._redis.get(export_keys.export(partner_id, export_id))
        return Export.model_validate_json(raw) if raw else None

    async def page(
        self, partner_id: str, *, package_id: str | None, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[Export], tuple[float, str] | None]:
        """Newest first, strictly after the ``(created, id)`` position; the position of the
        last one when more may follow. Ids whose record expired are dropped from the index."""
        index = export_keys.export_index(partner_id, package_id)
        high = "+inf" if after is None else repr(after[0])
        found: list[tuple[tuple[float, str], Export]] = []
        offset = 0
        while len(found) <= limit:
            batch = await self._redis.zrevrangebyscore(
                index, high, "-inf", start=offset, num=limit + 1, withscores=True
            )
            if not batch:
                break
            offset += len(batch)
            positions = [(float(score), str(export_id)) for export_id, score in batch]
            wanted = [position for position in positions if after is None or position < after]
            records = (
                await self._redis.mget([export_keys.export(partner_id, i) for _, i in wanted])
                if wanted
                else []
            )
            gone = [export_id for (_, export_id), raw in zip(wanted, records, strict=True) if raw is None]
            if gone:
                await self._redis.zrem(index, *gone)
                offset -= len(gone)
            found += [
                (position, Export.model_validate_json(raw))
                for position, raw in zip(wanted, records, strict=True)
                if raw is not None
            ]
        more = len(found) > limit
        return [export for _, export in found[:limit]], (found[limit - 1][0] if more else None)

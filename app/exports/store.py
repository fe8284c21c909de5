"""Export records in Redis, keyed by partner (another partner's export is not found)."""

from __future__ import annotations

from redis.asyncio import Redis

from app import redis_keys
from app.exports.schemas import Export


class ExportStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def save(self, partner_id: str, export: Export) -> None:
        await self._redis.set(
            redis_keys.export(partner_id, export.id), export.model_dump_json(), ex=redis_keys.EXPORT_TTL_S
        )

    async def get(self, partner_id: str, export_id: str) -> Export | None:
        raw = await self._redis.get(redis_keys.export(partner_id, export_id))
        return Export.model_validate_json(raw) if raw else None

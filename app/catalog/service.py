"""Event search and NLQ: the upstream's answers passed through (the guide gives no shape)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydantic import TypeAdapter

from app.kit import redis_keys
from app.kit.cache import Cache
from app.upstream import CallContext, PackageBuilderClient

ANY_JSON: TypeAdapter[Any] = TypeAdapter(Any)


class CatalogService:
    def __init__(self, upstream: PackageBuilderClient, cache: Cache, events_ttl_s: int) -> None:
        self._upstream = upstream
        self._cache = cache
        self._events_ttl_s = events_ttl_s

    async def search_events(self, ctx: CallContext, *, search: str, page: int, since: dt.date | None) -> Any:
        """Cached briefly per partner and query: a typing user repeats the same searches."""
        since_text = since.isoformat() if since else None
        query = json.dumps([search, page, since_text], ensure_ascii=False)
        key = redis_keys.events_cache(ctx.partner_id, hashlib.sha256(query.encode()).hexdigest()[:32])

        async def fill() -> tuple[Any, int]:
            answer = await self._upstream.search_events(ctx, search=search, page=page, since=since_text)
            return answer, self._events_ttl_s

        return await self._cache.get_or_fill(key, ANY_JSON, fill)

    async def resolve_customers(
        self, ctx: CallContext, *, description: str, result_type: str | None, language: str | None
    ) -> Any:
        return await self._upstream.ids_from_nl_description(
            ctx, description=description, result_type=result_type, language=language
        )

"""Event search and NLQ: the upstream's answers relayed, checked against what the SPA is
promised (``schemas.py``; the guide gives them no shape)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from app.catalog import keys as catalog_keys
from app.catalog.schemas import CustomerResolution, EventSearchResults
from app.kit.cache import Cache
from app.upstream import CallContext, PackageBuilderClient, UpstreamBadResponse

logger = logging.getLogger("app.catalog")
SEARCH_RESULTS = TypeAdapter(EventSearchResults)
Relayed = TypeVar("Relayed", bound=BaseModel)


def relayed(model: type[Relayed], answer: Any, what: str) -> Relayed:
    """The upstream's answer as the model promises it, or a 502 (never a 500)."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        logger.warning("unexpected upstream %s answer: %s", what, exc.errors(include_input=False)[:5])
        raise UpstreamBadResponse(f"the upstream answered the {what} with an unexpected shape") from exc


class CatalogService:
    def __init__(self, upstream: PackageBuilderClient, cache: Cache, events_ttl_s: int) -> None:
        self._upstream = upstream
        self._cache = cache
        self._events_ttl_s = events_ttl_s

    async def search_events(
        self, ctx: CallContext, *, search: str, page: int, since: dt.date | None
    ) -> EventSearchResults:
        """Cached briefly per partner and query: a typing user repeats the same searches."""
        since_text = since.isoformat() if since else None
        query = json.dumps([search, page, since_text], ensure_ascii=False)
        key = catalog_keys.events_cache(ctx.partner_id, hashlib.sha256(query.encode()).hexdigest()[:32])

        async def fill() -> tuple[EventSearchResults, int]:
            answer = await self._upstream.search_events(ctx, search=search, page=page, since=since_text)
            return relayed(EventSearchResults, answer, "event search"), self._events_ttl_s

        return await self._cache.get_or_fill(key, SEARCH_RESULTS, fill)

    async def resolve_customers(
        self, ctx: CallContext, *, description: str, result_type: str | None, language: str | None
    ) -> CustomerResolution:
        answer = await self._upstream.ids_from_nl_description(
            ctx, description=description, result_type=result_type, language=language
        )
        return relayed(CustomerResolution, answer, "customer resolution")

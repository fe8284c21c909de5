"""Event search and NLQ: the upstream's answers passed through (the guide gives no shape)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.upstream import CallContext, PackageBuilderClient


class CatalogService:
    def __init__(self, upstream: PackageBuilderClient) -> None:
        self._upstream = upstream

    async def search_events(
        self, ctx: CallContext, *, search: str, page: int, since: dt.date | None
    ) -> Any:
        return await self._upstream.search_events(
            ctx, search=search, page=page, since=since.isoformat() if since else None
        )

    async def resolve_customers(
        self, ctx: CallContext, *, description: str, result_type: str | None, language: str | None
    ) -> Any:
        return await self._upstream.ids_from_nl_description(
            ctx, description=description, result_type=result_type, language=language
        )

"""The catalog's Redis keys: cached event searches."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, partner_part


def events_cache(partner_id: str, query_hash: str) -> str:
    """Event search answers; TTL ``BFF_EVENTS_CACHE_TTL_S``."""
    return f"{PREFIX}:cache:events:{partner_part(partner_id)}:{query_hash}"

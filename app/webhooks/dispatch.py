"""The one door through which package events become webhook deliveries."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis


async def dispatch_event(
    store: Redis, queue: ArqRedis, *, partner_id: str, event_type: str, event_key: str,
    data: dict[str, Any],
) -> int:
    """Create one delivery per enabled endpoint of the partner subscribed to ``event_type``
    and enqueue it. Idempotent per ``event_key``: calling twice delivers once.
    Returns the number of deliveries created."""
    raise NotImplementedError

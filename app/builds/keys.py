"""The Redis keys of followed builds: open watches, the poll schedule, last statuses and
their channels, and the markers of terminal events emitted."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part, partner_part

EMITTED_EVENT_TTL_S = 30 * 24 * 3600
WATCH_GENERATION_TTL_S = 90 * 24 * 3600  # outlives the emitted markers it numbers
PACKAGE_STATUS_TTL_S = 7 * 24 * 3600
WATCH_POLL_STATS_TTL_S = 7 * 24 * 3600

WATCH_PARTNERS = f"{PREFIX}:watch:partners"
"""Sorted set: partner id → when its next poll is due (unix seconds); no TTL (a partner is
removed with its last watch). Across partners: a partner's entry is in
``shard_key(WATCH_PARTNERS, partner)``, the whole schedule in ``shard_keys(WATCH_PARTNERS)``
(this one key on a single Redis)."""


def watch_set(partner_id: str) -> str:
    """Hash package_id → watch JSON of a partner's open watches; no TTL (removed on end)."""
    return f"{PREFIX}:watch:open:{partner_part(partner_id)}"


def watch_generation(partner_id: str, package_id: str) -> str:
    """Build counter of a package, bumped by regenerate; TTL ``WATCH_GENERATION_TTL_S``."""
    return f"{PREFIX}:watch:generation:{partner_part(partner_id)}:{key_part(package_id)}"


def watch_poll_lock(partner_id: str) -> str:
    """SET NX PX lock: one worker polls a partner at a time; TTL = the poll lease."""
    return f"{PREFIX}:watch:lock:{partner_part(partner_id)}"


def watch_poll_stats(partner_id: str) -> str:
    """Hash of a partner's status polls: ``polls``, ``last_polled_at``, the bytes its calls
    weighed (``list_bytes``, ``get_bytes``), when the last complete poll began
    (``complete_at_ms``, Redis clock) and the package GETs polls made (``polled_by_get``);
    TTL ``WATCH_POLL_STATS_TTL_S``."""
    return f"{PREFIX}:watch:polls:{partner_part(partner_id)}"


def package_status(partner_id: str, package_id: str) -> str:
    """Last status seen by the worker (JSON with a sequence number); TTL 7 days."""
    return package_status_prefix(partner_id) + key_part(package_id)


def status_channel(partner_id: str, package_id: str) -> str:
    """Pub/sub channel of status changes, read by the SSE endpoint."""
    return status_channel_prefix(partner_id) + key_part(package_id)


def package_status_prefix(partner_id: str) -> str:
    """What ``package_status`` puts before the package part (the status scripts derive a
    package's channel from its key: ``status_channel_prefix`` + the rest of the key)."""
    return f"{PREFIX}:status:{partner_part(partner_id)}:"


def status_channel_prefix(partner_id: str) -> str:
    return f"{PREFIX}:status-changes:{partner_part(partner_id)}:"


def emitted_event(partner_id: str, package_id: str, status: str, generation: str) -> str:
    """Set-once marker: the terminal event of one build was emitted; TTL 30 days."""
    return f"{PREFIX}:emitted:{partner_part(partner_id)}:{key_part(package_id)}:{status}:{generation}"

"""The wizard drafts' Redis keys."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part, partner_part


def draft(partner_id: str, sub: str, draft_id: str) -> str:
    """One wizard draft (hash); sliding TTL ``BFF_DRAFT_TTL_S``."""
    return f"{PREFIX}:draft:{partner_part(partner_id)}:{key_part(sub)}:{key_part(draft_id)}"


def draft_index(partner_id: str, sub: str) -> str:
    """Sorted set of the caller's draft ids by update time; same TTL as drafts."""
    return f"{PREFIX}:drafts:{partner_part(partner_id)}:{key_part(sub)}"

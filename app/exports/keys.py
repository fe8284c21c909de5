"""The CRM exports' Redis keys."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part, partner_part

EXPORT_TTL_S = 30 * 24 * 3600


def export(partner_id: str, export_id: str) -> str:
    """One CRM export's status (JSON); TTL ``EXPORT_TTL_S``."""
    return f"{PREFIX}:export:{partner_part(partner_id)}:{export_id}"


def export_index(partner_id: str, package_id: str | None = None) -> str:
    """Sorted set of a partner's export ids by creation time (one more per package, for the
    ``package_id`` filter); TTL ``EXPORT_TTL_S`` from the last export."""
    base = f"{PREFIX}:exports:{partner_part(partner_id)}"
    return base if package_id is None else f"{base}:{key_part(package_id)}"

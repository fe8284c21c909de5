"""The idempotency records' Redis keys, and how long each is kept."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part, partner_part

IDEMPOTENCY_TTL_S = 24 * 3600
IDEMPOTENCY_IN_FLIGHT_TTL_S = 60
IDEMPOTENCY_BUDGET_HOURS = 24
IDEMPOTENCY_BYTES_TTL_S = 25 * 3600


def idempotency(partner_id: str, caller: str, scope: str, key: str) -> str:
    """Stored first answer for (partner, caller ``sub``, operation, Idempotency-Key); TTL 24 h.
    Another user of the partner with the same key is another request."""
    return f"{PREFIX}:idem:{partner_part(partner_id)}:{key_part(caller)}:{scope}:{key_part(key)}"


def idempotency_in_flight(partner_id: str, caller: str, scope: str, key: str) -> str:
    """Marker (SET NX) of the request now executing for that key; short TTL, so a crash frees it."""
    return f"{idempotency(partner_id, caller, scope, key)}:in-flight"


def idempotency_bytes(partner_id: str, hour: int) -> str:
    """Bytes of answers the partner stored in one hour (Unix hours); TTL 25 h: the last 24 of
    them bound what its live records (24 h each) can hold."""
    return f"{PREFIX}:idem-bytes:{partner_part(partner_id)}:{hour}"

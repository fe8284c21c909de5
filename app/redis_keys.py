"""Every Redis key the BFF writes, in one place, with its lifetime.

All keys are prefixed ``bff:`` and, where they hold a partner's data, carry the
partner id, so one partner can never read another's entry by accident.
"""

from __future__ import annotations

from hashlib import sha256

PREFIX = "bff"


def _part(value: str) -> str:
    """Partner ids, subs and user keys go into keys hashed when long or unusual."""
    if value.isascii() and value.replace("-", "").replace("_", "").isalnum() and len(value) <= 64:
        return value
    return "h" + sha256(value.encode()).hexdigest()[:32]


# -- caches (issue 3) ---------------------------------------------------------------------
def evaluation_cache(partner_id: str, package_id: str) -> str:
    """JSON of settings + results; TTL ``BFF_EVALUATION_CACHE_TTL_S``; deleted by PUT."""
    return f"{PREFIX}:cache:evaluation:{_part(partner_id)}:{_part(package_id)}"


def package_view_cache(partner_id: str, package_id: str) -> str:
    """JSON of a DONE package's results view; kept until regenerate (long TTL)."""
    return f"{PREFIX}:cache:view:{_part(partner_id)}:{_part(package_id)}"


def events_cache(partner_id: str, query_hash: str) -> str:
    """Event search answers; TTL ``BFF_EVENTS_CACHE_TTL_S``."""
    return f"{PREFIX}:cache:events:{_part(partner_id)}:{query_hash}"


def cache_lock(cache_key: str) -> str:
    """Single-flight lock for filling ``cache_key`` across processes; TTL seconds."""
    return f"{cache_key}:lock"


# -- drafts (issue 3) ---------------------------------------------------------------------
def draft(partner_id: str, sub: str, draft_id: str) -> str:
    """One wizard draft (hash); sliding TTL ``BFF_DRAFT_TTL_S``."""
    return f"{PREFIX}:draft:{_part(partner_id)}:{_part(sub)}:{_part(draft_id)}"


def draft_index(partner_id: str, sub: str) -> str:
    """Sorted set of the caller's draft ids by update time; same TTL as drafts."""
    return f"{PREFIX}:drafts:{_part(partner_id)}:{_part(sub)}"


# -- idempotency (issue 3) ----------------------------------------------------------------
def idempotency(partner_id: str, scope: str, key: str) -> str:
    """Stored first answer for (partner, Idempotency-Key); TTL 24 h."""
    return f"{PREFIX}:idem:{_part(partner_id)}:{scope}:{_part(key)}"


# -- watches and live status (issue 4) ----------------------------------------------------
WATCH_PARTNERS = f"{PREFIX}:watch:partners"


def watch_set(partner_id: str) -> str:
    """Hash package_id → watch JSON of a partner's open watches; no TTL (removed on end)."""
    return f"{PREFIX}:watch:open:{_part(partner_id)}"


def package_status(partner_id: str, package_id: str) -> str:
    """Last status seen by the worker (JSON with a sequence number); TTL 7 days."""
    return f"{PREFIX}:status:{_part(partner_id)}:{_part(package_id)}"


def status_channel(partner_id: str, package_id: str) -> str:
    """Pub/sub channel of status changes, read by the SSE endpoint."""
    return f"{PREFIX}:status-changes:{_part(partner_id)}:{_part(package_id)}"


def emitted_event(partner_id: str, package_id: str, status: str, generation: str) -> str:
    """Set-once marker: the terminal event of one build was emitted; TTL 30 days."""
    return f"{PREFIX}:emitted:{_part(partner_id)}:{_part(package_id)}:{status}:{generation}"


# -- webhooks (issue 4) -------------------------------------------------------------------
def webhook_endpoint(partner_id: str, endpoint_id: str) -> str:
    """One endpoint (JSON); no TTL."""
    return f"{PREFIX}:webhook:{_part(partner_id)}:{endpoint_id}"


def webhook_index(partner_id: str) -> str:
    """Set of a partner's endpoint ids."""
    return f"{PREFIX}:webhooks:{_part(partner_id)}"


def webhook_deliveries(partner_id: str, endpoint_id: str) -> str:
    """Sorted set of delivery ids by time (capped); TTL 30 days."""
    return f"{PREFIX}:webhook-deliveries:{_part(partner_id)}:{endpoint_id}"


def webhook_delivery(partner_id: str, delivery_id: str) -> str:
    """One delivery with its attempts (JSON); TTL 30 days."""
    return f"{PREFIX}:webhook-delivery:{_part(partner_id)}:{delivery_id}"


# -- exports ------------------------------------------------------------------------------
def export(partner_id: str, export_id: str) -> str:
    """One CRM export's status (JSON); TTL 30 days."""
    return f"{PREFIX}:export:{_part(partner_id)}:{export_id}"

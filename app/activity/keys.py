"""The Redis keys of the activity log and of the outbox of events not yet published."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part, partner_part

OUTBOX_PARTNERS = f"{PREFIX}:outbox-partners"
"""Sorted set: partner → Redis ms of its latest record. Marked before each record, so the
worker's sweep finds the outbox of a process killed before publishing; a partner is removed
once its outbox is empty and no record came since. Across partners: a partner's entry is in
``shard_key(OUTBOX_PARTNERS, partner)``, the sweep walks ``shard_keys(OUTBOX_PARTNERS)``
(this one key on a single Redis)."""


def activity_log(partner_id: str) -> str:
    """Stream of every event emitted for the partner, oldest first; entries older than
    ``BFF_ACTIVITY_RETENTION_S`` are trimmed at each append, and the whole key expires that
    long after the last one (an idle partner keeps nothing)."""
    return f"{PREFIX}:activity:{partner_part(partner_id)}"


def activity_seen(partner_id: str, message_id: str) -> str:
    """Set-once marker of an event appended (its entry id): a retried dispatch appends once;
    TTL ``BFF_ACTIVITY_RETENTION_S``."""
    return f"{PREFIX}:activity-seen:{partner_part(partner_id)}:{key_part(message_id)}"


def activity_channel(partner_id: str) -> str:
    """Pub/sub channel of the partner's appends (``prev-id new-id item``), read by its
    activity streams through the process's one subscription."""
    return f"{PREFIX}:activity-changes:{partner_part(partner_id)}"


def activity_consumers(partner_id: str) -> str:
    """Hash: named consumer → its position in the log; TTL ``BFF_ACTIVITY_RETENTION_S`` after
    the last poll or seek of any of them."""
    return f"{PREFIX}:activity-consumers:{partner_part(partner_id)}"


def outbox(partner_id: str) -> str:
    """Stream of the partner's events recorded and not yet published (logged and handed to
    the webhooks): ``type``, ``key``, ``pkg``, ``at`` (Redis ms), ``data`` (JSON); entries are
    deleted once published; TTL ``BFF_ACTIVITY_RETENTION_S`` after the last record."""
    return f"{PREFIX}:outbox:{partner_part(partner_id)}"

"""The kept package list's Redis keys.

Every key of a partner's kept list expires ``BFF_LIST_TTL_S`` after the partner's last list
read (reads renew them at most once per ``BFF_LIST_REFRESH_S``); the lock lives its lease.
"""

from __future__ import annotations

from app.kit.keyspace import PREFIX, partner_part


def list_meta(partner_id: str) -> str:
    """Hash: ``at`` (Redis ms when the upstream read of the kept rows began), ``next`` (no
    refresh is claimed before it), ``read`` (the last read that renewed the TTLs), ``digest``
    (of the rows as the last refresh wrote them; absent once a row changed since)."""
    return f"{PREFIX}:list:{partner_part(partner_id)}:meta"


def list_lock(partner_id: str) -> str:
    """SET NX PX: the one refresh of the partner's list in flight; TTL its lease."""
    return f"{PREFIX}:list:{partner_part(partner_id)}:lock"


def list_rows(partner_id: str) -> str:
    """Hash package id → ``<position stamp><status code><row JSON>``."""
    return f"{PREFIX}:list:{partner_part(partner_id)}:rows"


def list_search(partner_id: str) -> str:
    """Hash package id → casefolded id and title, what ``q`` is matched against."""
    return f"{PREFIX}:list:{partner_part(partner_id)}:search"


def list_touched(partner_id: str) -> str:
    """Hash package id → Redis ms of a read newer than the last refresh's (the BFF's own
    write, a status the worker observed): a refresh that began earlier leaves the row be."""
    return f"{PREFIX}:list:{partner_part(partner_id)}:touched"


def list_order(partner_id: str, status: str | None = None) -> str:
    """Sorted set (all scores 0) of row positions, newest last in byte order: every row, or
    (with ``status``) the rows of one status."""
    base = f"{PREFIX}:list:{partner_part(partner_id)}:order"
    return base if status is None else f"{base}:{status}"

"""The packages' Redis keys: cached views and evaluations, and the lock of a settings change."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part, partner_part

# Bounds how long a DONE view can miss the upstream's DONE → EXPIRED; stays ≤ 10 min, as views
# will embed signed links that live about 15 minutes.
PACKAGE_VIEW_TTL_S = 600
EVALUATION_LOCK_TTL_S = 15


def evaluation_cache(partner_id: str, package_id: str) -> str:
    """JSON of settings + results; TTL ``BFF_EVALUATION_CACHE_TTL_S``; deleted by PUT."""
    return f"{PREFIX}:cache:evaluation:{partner_part(partner_id)}:{key_part(package_id)}"


def package_view_cache(partner_id: str, package_id: str) -> str:
    """JSON of a DONE package's results view; deleted by regenerate and by new evaluation
    settings, else kept ``PACKAGE_VIEW_TTL_S``."""
    return f"{PREFIX}:cache:view:{partner_part(partner_id)}:{key_part(package_id)}"


def evaluation_lock(partner_id: str, package_id: str) -> str:
    """Held while a conditional (If-Match) settings change reads, compares and writes; TTL
    ``EVALUATION_LOCK_TTL_S``."""
    return f"{PREFIX}:lock:evaluation:{partner_part(partner_id)}:{key_part(package_id)}"

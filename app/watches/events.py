"""What a finished build announces: event type, a stable key, and the payload data."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.packages.presenters import merged_from
from app.upstream.models import UpstreamPackage
from app.watches.registry import Watch

EVENT_TYPES = {"DONE": "package.done", "FAILED": "package.failed", "EXPIRED": "package.expired"}


def event_type(status: str) -> str:
    return EVENT_TYPES[status]


def event_key(watch: Watch, status: str) -> str:
    """Stable across workers, retries and restarts: one build, one terminal event."""
    return f"{watch.partner_id}:{watch.package_id}:{status}:{watch.generation}"


def event_data(package: UpstreamPackage, partner_id: str, status: str, public_base: str) -> dict[str, Any]:
    """``data`` of ``package.done|failed|expired``: the package, its per-cluster counts
    (known once DONE) and where the results page is."""
    clusters = [
        {"tc": tc, "customers": content.customers, "items": content.items, "purchase": content.purchase}
        for tc, content in (package.content or {}).items()
    ]
    return {
        "package_id": package.id,
        "partner_id": partner_id,
        "status": status,
        "title": package.title,
        "merge_id": package.merge_id,
        "merged_from": merged_from(package.merge_id),
        "clusters": clusters,
        "results_url": f"{public_base}/v1/packages/{quote(package.id, safe='')}",
    }

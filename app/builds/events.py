"""What a finished build announces: its event type, a stable key, and the typed payload."""

from __future__ import annotations

from urllib.parse import quote

from app.builds.registry import Watch
from app.upstream.models import UpstreamPackage, merged_from
from app.webhooks.events import PackageEventCluster, PackageEventData, WebhookEventType

EVENT_TYPE_OF_STATUS: dict[str, WebhookEventType] = {
    "DONE": WebhookEventType.PACKAGE_DONE,
    "FAILED": WebhookEventType.PACKAGE_FAILED,
    "EXPIRED": WebhookEventType.PACKAGE_EXPIRED,
}


def event_type(status: str) -> WebhookEventType:
    return EVENT_TYPE_OF_STATUS[status]


def event_key(watch: Watch, status: str) -> str:
    """Stable across workers, retries and restarts: one build, one terminal event."""
    return f"{watch.partner_id}:{watch.package_id}:{status}:{watch.generation}"


def event_data(package: UpstreamPackage, partner_id: str, status: str, public_base: str) -> PackageEventData:
    """The package, its per-cluster counts (known once DONE) and where its results view is."""
    clusters = [
        PackageEventCluster(
            tc=tc, customers=content.customers, items=content.items, purchase=content.purchase
        )
        for tc, content in (package.content or {}).items()
    ]
    return PackageEventData.model_validate(
        {
            "package_id": package.id,
            "partner_id": partner_id,
            "status": status,
            "title": package.title,
            "merge_id": package.merge_id,
            "merged_from": merged_from(package.merge_id),
            "clusters": clusters,
            "results_url": f"{public_base}/v1/packages/{quote(package.id, safe='')}",
        }
    )

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


# An event is kept in the activity log and sent to every endpoint: whatever the upstream
# names, one stays small. Clusters past this share are left out (counted; the results view
# has them all); a title or merge id longer than this is cut.
MAX_CLUSTER_BYTES = 48 * 1024
CLUSTER_OVERHEAD_BYTES = 80  # the counts and the JSON around a cluster's name
MAX_TEXT_CHARS = 1024
MAX_MERGED_FROM = 100


def _cut(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def event_data(package: UpstreamPackage, partner_id: str, status: str, public_base: str) -> PackageEventData:
    """The package, its per-cluster counts (known once DONE) and where its results view is;
    at most about 64 KiB whatever the upstream sends."""
    clusters, used = [], 0
    contents = list((package.content or {}).items())
    for tc, content in contents:
        used += len(tc.encode("utf-8", "replace")) + CLUSTER_OVERHEAD_BYTES
        if used > MAX_CLUSTER_BYTES:
            break
        clusters.append(
            PackageEventCluster(
                tc=tc, customers=content.customers, items=content.items, purchase=content.purchase
            )
        )
    return PackageEventData.model_validate(
        {
            "package_id": package.id,
            "partner_id": partner_id,
            "status": status,
            "title": _cut(package.title),
            "merge_id": _cut(package.merge_id),
            "merged_from": [
                p for p in merged_from(package.merge_id)[:MAX_MERGED_FROM] if len(p) <= MAX_TEXT_CHARS
            ],
            "clusters": clusters,
            "clusters_omitted": len(contents) - len(clusters),
            "results_url": f"{public_base}/v1/packages/{quote(package.id, safe='')}",
        }
    )

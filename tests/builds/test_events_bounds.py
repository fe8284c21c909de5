"""What a finished build announces stays small whatever the upstream names (its event is
kept in the activity log and sent to every endpoint)."""

from __future__ import annotations

import json

from app.builds.events import MAX_CLUSTER_BYTES, event_data
from app.upstream.models import UpstreamPackage
from app.webhooks.events import PackageEventData, WebhookEventType, event_body


def test_fifty_clusters_with_long_names_make_an_event_of_at_most_64_kib():
    content = {f"{n:02d}" + "c" * 20_000: {"customers": n, "items": 1, "purchase": 1.5} for n in range(50)}
    package = UpstreamPackage.model_validate(
        {"id": "pkg_1", "status": "DONE", "title": "t" * 50_000, "merge_id": "1_2", "content": content}
    )
    data = event_data(package, "p1", "DONE", "https://bff.example")
    body = event_body(WebhookEventType.PACKAGE_DONE, data, 0.0)
    assert len(body.encode()) <= 64 * 1024
    assert data.clusters_omitted == 50 - len(data.clusters) > 0
    assert sum(len(c.tc) for c in data.clusters) <= MAX_CLUSTER_BYTES
    assert [c.customers for c in data.clusters] == list(range(len(data.clusters)))  # in order
    assert data.title is not None and len(data.title) <= 1024
    PackageEventData.model_validate(json.loads(body)["data"])  # still the documented shape


def test_an_ordinary_package_keeps_every_cluster():
    content = {"AC/DC fans": {"customers": 3, "items": 4, "purchase": 9.5}, "Jazz": {}}
    package = UpstreamPackage.model_validate(
        {"id": "pkg_2", "status": "DONE", "title": "T", "content": content}
    )
    data = event_data(package, "p1", "DONE", "https://bff.example")
    assert [c.tc for c in data.clusters] == ["AC/DC fans", "Jazz"] and data.clusters_omitted == 0
    assert data.title == "T"

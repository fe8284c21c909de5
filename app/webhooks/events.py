"""The events partners receive: one model per event type, keyed by its ``Literal`` type.

These models are the webhook contract (and what OpenAPI's ``webhooks`` section is made
of). They live here, in the leaf domain that sends them, so the domains that raise
events (``builds``, ``exports``) import them and this module imports none of those.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.kit.types import examples
from app.upstream.models import PackageStatus


class WebhookEventType(StrEnum):
    """What an endpoint subscribes to: every event the service announces (``webhook.test`` is
    sent on request to any endpoint, whatever it subscribed to)."""

    PACKAGE_DONE = "package.done"
    PACKAGE_FAILED = "package.failed"
    PACKAGE_EXPIRED = "package.expired"
    PACKAGE_STATUS = "package.status"
    EXPORT_DONE = "export.done"
    EXPORT_FAILED = "export.failed"


class ExportStatus(StrEnum):
    """A CRM export's status: PENDING and RUNNING until it is DONE or has FAILED for good.
    Here, with the events that carry it: this leaf imports no domain that raises events."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


STAMP = "2026-05-15T10:42:07.120Z"
CLUSTER_EXAMPLE: dict[str, Any] = {
    "tc": "family_outings_munich",
    "customers": 184,
    "items": 412,
    "purchase": 18540,
}
PACKAGE_DATA_EXAMPLE: dict[str, Any] = {
    "package_id": "pkg_555",
    "partner_id": "partner-1",
    "status": "DONE",
    "title": "Munich shows Q3",
    "merge_id": None,
    "merged_from": [],
    "clusters": [CLUSTER_EXAMPLE],
    "results_url": "https://bff.example/v1/packages/pkg_555",
}
EXPORT_DATA_EXAMPLE: dict[str, Any] = {
    "export_id": "96b379df724444a8ae8c8f2e91ef913f",
    "partner_id": "partner-1",
    "package_id": "pkg_555",
    "tc": "family_outings_munich",
    "crm_name": "hubspot",
    "container_name": "Munich Q3",
    "status": "DONE",
    "reason": None,
    "upstream_reference": "exp_8812",
    "export_url": "https://bff.example/v1/exports/96b379df724444a8ae8c8f2e91ef913f",
}
STATUS_DATA_EXAMPLE: dict[str, Any] = {
    "package_id": "pkg_555",
    "partner_id": "partner-1",
    "status": "INPROGRESS",
    "progress": 40,
    "seq": 3,
}
TEST_DATA_EXAMPLE: dict[str, Any] = {
    "endpoint_id": "ep_c17fcd6886ee454ba829b96cf7be76bf",
    "partner_id": "partner-1",
    "message": "a test event from the Package Builder BFF",
}
FAILED_EXPORT_EXAMPLE: dict[str, Any] = {
    **EXPORT_DATA_EXAMPLE,
    "status": "FAILED",
    "reason": "the data-integrations layer refused the credentials",
    "upstream_reference": None,
}


def _event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": STAMP, "data": data}


TestEventType = Literal["webhook.test"]
EventType = WebhookEventType | TestEventType
"""What a delivery carries: a subscribable event, or the test event."""

EVENT_TYPES: tuple[WebhookEventType, ...] = tuple(WebhookEventType)
"""What an endpoint may subscribe to."""
TEST_EVENT_TYPE: TestEventType = "webhook.test"


class PackageEventCluster(BaseModel):
    """One cluster of a finished package (known once DONE): its name and counts. Not the
    results view's ``ClusterCounts`` (an evaluation, without ``tc``): one name per shape, so
    generated clients keep both."""

    model_config = examples(CLUSTER_EXAMPLE)

    tc: str
    customers: int
    items: int
    purchase: float


class PackageEventData(BaseModel):
    """``data`` of ``package.done|failed|expired``."""

    model_config = examples(PACKAGE_DATA_EXAMPLE)

    package_id: str
    partner_id: str
    status: PackageStatus = Field(description="DONE, FAILED or EXPIRED: how the build ended")
    title: str | None
    merge_id: str | None
    merged_from: list[str]
    clusters: list[PackageEventCluster]
    clusters_omitted: int = Field(
        default=0,
        ge=0,
        description="clusters left out of `clusters` to keep the event under 64 KiB "
        "(the results view at `results_url` lists them all)",
    )
    results_url: str = Field(description="the package's results view in this API")


class PackageStatusData(BaseModel):
    """``data`` of ``package.status``: one change of a build's status or progress (as the
    package's own event stream shows it; ``seq`` grows by one per change)."""

    model_config = examples(STATUS_DATA_EXAMPLE)

    package_id: str
    partner_id: str
    status: PackageStatus
    progress: int | None = Field(description="percent done, when the upstream says")
    seq: int


class ExportEventData(BaseModel):
    """``data`` of ``export.done|failed``."""

    model_config = examples(EXPORT_DATA_EXAMPLE)

    export_id: str
    partner_id: str
    package_id: str
    tc: str
    crm_name: str
    container_name: str
    status: ExportStatus = Field(description="DONE or FAILED")
    reason: str | None = Field(description="why it FAILED")
    upstream_reference: str | None = Field(description="the data-integrations layer's id, once DONE")
    export_url: str = Field(description="the export in this API")


class WebhookTestData(BaseModel):
    """``data`` of ``webhook.test``."""

    model_config = examples(TEST_DATA_EXAMPLE)

    endpoint_id: str
    partner_id: str
    message: str


EventData = PackageEventData | PackageStatusData | ExportEventData | WebhookTestData


class _Event(BaseModel):
    timestamp: str = Field(description="when the event happened, ISO 8601 UTC (ms)")


class PackageDone(_Event):
    """A build finished: its clusters are ready (CSV, evaluation, exports)."""

    model_config = examples(_event("package.done", PACKAGE_DATA_EXAMPLE))

    type: Literal["package.done"]
    data: PackageEventData


class PackageFailed(_Event):
    """A build failed; it will not become DONE."""

    model_config = examples(
        _event("package.failed", {**PACKAGE_DATA_EXAMPLE, "status": "FAILED", "clusters": []})
    )

    type: Literal["package.failed"]
    data: PackageEventData


class PackageExpired(_Event):
    """A package expired; it can be regenerated."""

    model_config = examples(_event("package.expired", {**PACKAGE_DATA_EXAMPLE, "status": "EXPIRED"}))

    type: Literal["package.expired"]
    data: PackageEventData


class PackageStatusChanged(_Event):
    """A build's status or progress changed (every change, in order; its end is also a
    ``package.done|failed|expired``)."""

    model_config = examples(_event("package.status", STATUS_DATA_EXAMPLE))

    type: Literal["package.status"]
    data: PackageStatusData


class ExportDone(_Event):
    """A CRM export was accepted by the data-integrations layer."""

    model_config = examples(_event("export.done", EXPORT_DATA_EXAMPLE))

    type: Literal["export.done"]
    data: ExportEventData


class ExportFailed(_Event):
    """A CRM export failed for good (after its retries)."""

    model_config = examples(_event("export.failed", FAILED_EXPORT_EXAMPLE))

    type: Literal["export.failed"]
    data: ExportEventData


class WebhookTest(_Event):
    """Sent by ``POST /v1/webhooks/{id}/test``."""

    model_config = examples(_event("webhook.test", TEST_DATA_EXAMPLE))

    type: Literal["webhook.test"]
    data: WebhookTestData


WebhookEvent = Annotated[
    PackageDone
    | PackageFailed
    | PackageExpired
    | PackageStatusChanged
    | ExportDone
    | ExportFailed
    | WebhookTest,
    Field(discriminator="type"),
]
EVENT_MODELS: dict[EventType, type[_Event]] = {
    WebhookEventType.PACKAGE_DONE: PackageDone,
    WebhookEventType.PACKAGE_FAILED: PackageFailed,
    WebhookEventType.PACKAGE_EXPIRED: PackageExpired,
    WebhookEventType.EXPORT_DONE: ExportDone,
    WebhookEventType.EXPORT_FAILED: ExportFailed,
    WebhookEventType.PACKAGE_STATUS: PackageStatusChanged,
    TEST_EVENT_TYPE: WebhookTest,
}


def event_body(event_type: EventType, data: EventData, now: float) -> str:
    """``{type, timestamp, data}`` validated against the event's model and serialised
    once; every attempt sends exactly these bytes."""
    return _body(event_type, data.model_dump(), dt.datetime.fromtimestamp(now, dt.UTC))


def recorded_event_body(event_type: EventType, data_json: str, at_ms: int) -> str:
    """``event_body`` of an event recorded as data (``app.activity.outbox``) at ``at_ms``."""
    moment = dt.datetime.fromtimestamp(at_ms // 1000, dt.UTC).replace(microsecond=at_ms % 1000 * 1000)
    return _body(event_type, json.loads(data_json), moment)


def _body(event_type: EventType, data: dict[str, Any], moment: dt.datetime) -> str:
    stamp = moment.isoformat(timespec="milliseconds")
    event = EVENT_MODELS[event_type].model_validate(
        {"type": event_type, "timestamp": stamp.replace("+00:00", "Z"), "data": data}
    )
    payload = event.model_dump(mode="json")
    return json.dumps(
        {"type": payload["type"], "timestamp": payload["timestamp"], "data": payload["data"]},
        separators=(",", ":"),
        ensure_ascii=False,
    )

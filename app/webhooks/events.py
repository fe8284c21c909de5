"""The events partners receive: one model per event type, keyed by its ``Literal`` type.

These models are the webhook contract (and what OpenAPI's ``webhooks`` section is made
of). They live here, in the leaf domain that sends them, so the domains that raise
events (``builds``, ``exports``) import them and this module imports none of those.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.upstream.models import PackageStatus


class WebhookEventType(StrEnum):
    """What an endpoint subscribes to: every event the service announces (``webhook.test`` is
    sent on request to any endpoint, whatever it subscribed to)."""

    PACKAGE_DONE = "package.done"
    PACKAGE_FAILED = "package.failed"
    PACKAGE_EXPIRED = "package.expired"
    EXPORT_DONE = "export.done"
    EXPORT_FAILED = "export.failed"


class ExportStatus(StrEnum):
    """A CRM export's status: PENDING and RUNNING until it is DONE or has FAILED for good.
    Here, with the events that carry it: this leaf imports no domain that raises events."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


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

    tc: str
    customers: int
    items: int
    purchase: float


class PackageEventData(BaseModel):
    """``data`` of ``package.done|failed|expired``."""

    package_id: str
    partner_id: str
    status: PackageStatus = Field(description="DONE, FAILED or EXPIRED: how the build ended")
    title: str | None
    merge_id: str | None
    merged_from: list[str]
    clusters: list[PackageEventCluster]
    results_url: str = Field(description="the package's results view in this API")


class ExportEventData(BaseModel):
    """``data`` of ``export.done|failed``."""

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

    endpoint_id: str
    partner_id: str
    message: str


EventData = PackageEventData | ExportEventData | WebhookTestData


class _Event(BaseModel):
    timestamp: str = Field(description="when the event happened, ISO 8601 UTC (ms)")


class PackageDone(_Event):
    """A build finished: its clusters are ready (CSV, evaluation, exports)."""

    type: Literal["package.done"] = "package.done"
    data: PackageEventData


class PackageFailed(_Event):
    """A build failed; it will not become DONE."""

    type: Literal["package.failed"] = "package.failed"
    data: PackageEventData


class PackageExpired(_Event):
    """A package expired; it can be regenerated."""

    type: Literal["package.expired"] = "package.expired"
    data: PackageEventData


class ExportDone(_Event):
    """A CRM export was accepted by the data-integrations layer."""

    type: Literal["export.done"] = "export.done"
    data: ExportEventData


class ExportFailed(_Event):
    """A CRM export failed for good (after its retries)."""

    type: Literal["export.failed"] = "export.failed"
    data: ExportEventData


class WebhookTest(_Event):
    """Sent by ``POST /v1/webhooks/{id}/test``."""

    type: Literal["webhook.test"] = "webhook.test"
    data: WebhookTestData


WebhookEvent = Annotated[
    PackageDone | PackageFailed | PackageExpired | ExportDone | ExportFailed | WebhookTest,
    Field(discriminator="type"),
]
EVENT_MODELS: dict[EventType, type[_Event]] = {
    WebhookEventType.PACKAGE_DONE: PackageDone,
    WebhookEventType.PACKAGE_FAILED: PackageFailed,
    WebhookEventType.PACKAGE_EXPIRED: PackageExpired,
    WebhookEventType.EXPORT_DONE: ExportDone,
    WebhookEventType.EXPORT_FAILED: ExportFailed,
    TEST_EVENT_TYPE: WebhookTest,
}


def event_body(event_type: EventType, data: EventData, now: float) -> str:
    """``{type, timestamp, data}`` validated against the event's model and serialised
    once; every attempt sends exactly these bytes."""
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds")
    event = EVENT_MODELS[event_type].model_validate(
        {"type": event_type, "timestamp": stamp.replace("+00:00", "Z"), "data": data.model_dump()}
    )
    payload = event.model_dump(mode="json")
    return json.dumps(
        {"type": payload["type"], "timestamp": payload["timestamp"], "data": payload["data"]},
        separators=(",", ":"),
        ensure_ascii=False,
    )

"""The events partners receive: one model per event type, keyed by its ``Literal`` type.

These models are the webhook contract (and what OpenAPI's ``webhooks`` section is made
of). They live here, in the leaf domain that sends them, so the domains that raise
events (``builds``, ``exports``) import them and this module imports none of those.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field

PackageEventType = Literal["package.done", "package.failed", "package.expired"]
ExportEventType = Literal["export.done", "export.failed"]
StatusEventType = Literal["package.status"]
SubscribableEventType = Literal[
    "package.done", "package.failed", "package.expired", "export.done", "export.failed", "package.status"
]
TestEventType = Literal["webhook.test"]
EventType = SubscribableEventType | TestEventType

EVENT_TYPES: tuple[SubscribableEventType, ...] = get_args(SubscribableEventType)
"""What an endpoint may subscribe to (``webhook.test`` is sent on request, whatever)."""
TEST_EVENT_TYPE: TestEventType = "webhook.test"


class ClusterCounts(BaseModel):
    """One cluster of a finished package (known once DONE)."""

    tc: str
    customers: int
    items: int
    purchase: float


class PackageEventData(BaseModel):
    """``data`` of ``package.done|failed|expired``."""

    package_id: str
    partner_id: str
    status: Literal["DONE", "FAILED", "EXPIRED"]
    title: str | None
    merge_id: str | None
    merged_from: list[str]
    clusters: list[ClusterCounts]
    results_url: str = Field(description="the package's results view in this API")


class PackageStatusData(BaseModel):
    """``data`` of ``package.status``: one change of a build's status or progress (as the
    package's own event stream shows it; ``seq`` grows by one per change)."""

    package_id: str
    partner_id: str
    status: str = Field(description="the upstream's status (INITIALIZING, INPROGRESS, DONE, …)")
    progress: int | None = Field(description="percent done, when the upstream says")
    seq: int


class ExportEventData(BaseModel):
    """``data`` of ``export.done|failed``."""

    export_id: str
    partner_id: str
    package_id: str
    tc: str
    crm_name: str
    container_name: str
    status: Literal["DONE", "FAILED"]
    reason: str | None = Field(description="why it FAILED")
    upstream_reference: str | None = Field(description="the data-integrations layer's id, once DONE")
    export_url: str = Field(description="the export in this API")


class WebhookTestData(BaseModel):
    """``data`` of ``webhook.test``."""

    endpoint_id: str
    partner_id: str
    message: str


EventData = PackageEventData | PackageStatusData | ExportEventData | WebhookTestData


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


class PackageStatusChanged(_Event):
    """A build's status or progress changed (every change, in order; its end is also a
    ``package.done|failed|expired``)."""

    type: Literal["package.status"] = "package.status"
    data: PackageStatusData


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
    "package.done": PackageDone,
    "package.failed": PackageFailed,
    "package.expired": PackageExpired,
    "package.status": PackageStatusChanged,
    "export.done": ExportDone,
    "export.failed": ExportFailed,
    "webhook.test": WebhookTest,
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

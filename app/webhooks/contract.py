"""The webhook contract in OpenAPI 3.1's ``webhooks`` section: one entry per event type, its
body the event's model, its headers those of Standard Webhooks. Documentation only: these
functions are never called; the worker sends the events (``app/webhooks/delivery.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from app.webhooks.events import (
    ExportDone,
    ExportFailed,
    PackageDone,
    PackageExpired,
    PackageFailed,
    PackageStatusChanged,
    WebhookTest,
)

router = APIRouter(tags=["webhook events"], generate_unique_id_function=lambda route: route.name)

RECEIVER_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx: delivered. Anything else (3xx included) is retried on the schedule."},
    410: {"description": "Gone: the endpoint is disabled at once, nothing more is sent."},
}
WebhookId = Annotated[str, Header(alias="webhook-id", description="the same on every attempt of one event")]
WebhookTimestamp = Annotated[
    str, Header(alias="webhook-timestamp", description="unix seconds of this attempt")
]
WebhookSignature = Annotated[
    str,
    Header(
        alias="webhook-signature",
        description="`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the endpoint's whsec_ secret "
        "(space-separated, both old and new for 24 h after a rotation)",
    ),
]


@router.post("package.done", responses=RECEIVER_ANSWERS, status_code=200)
async def package_done(
    event: PackageDone,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A build finished: its clusters are ready (CSV, evaluation, exports)."""


@router.post("package.failed", responses=RECEIVER_ANSWERS, status_code=200)
async def package_failed(
    event: PackageFailed,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A build failed; it will not become DONE."""


@router.post("package.expired", responses=RECEIVER_ANSWERS, status_code=200)
async def package_expired(
    event: PackageExpired,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A package expired; `POST /v1/packages/{id}/regenerate` rebuilds it."""


@router.post("package.status", responses=RECEIVER_ANSWERS, status_code=200)
async def package_status(
    event: PackageStatusChanged,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A build's status or progress changed: every change, on subscription, numbered by
    `data.seq` (deliveries may arrive out of order: order them by `seq`); its end is also a
    `package.done|failed|expired` event."""


@router.post("export.done", responses=RECEIVER_ANSWERS, status_code=200)
async def export_done(
    event: ExportDone,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A CRM export was accepted by the data-integrations layer."""


@router.post("export.failed", responses=RECEIVER_ANSWERS, status_code=200)
async def export_failed(
    event: ExportFailed,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A CRM export failed for good, after its retries."""


@router.post("webhook.test", responses=RECEIVER_ANSWERS, status_code=200)
async def webhook_test(
    event: WebhookTest,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Sent by `POST /v1/webhooks/{id}/test`, whatever the endpoint subscribed to."""

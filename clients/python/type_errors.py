"""Mistakes the generated Python client must reject. ``make client-check`` runs
``mypy --strict`` (which reports an unused ``type: ignore``), so each ignored line below fails
the check the day it stops being an error: a status that became a plain ``str``, a second enum
of webhook event types, a response field that became ``Any``. Type-checked only, never run."""

from __future__ import annotations

from bff_client.models import (
    Endpoint,
    EndpointUpdate,
    PackageAccepted,
    PackageEventData,
    PackageStatus,
    PackageStatusEvent,
    PackageStatusView,
    PackageSummary,
    PackageView,
    WatchView,
    WebhookEventType,
)


def mistakes(
    row: PackageSummary,
    view: PackageView,
    status: PackageStatusView,
    accepted: PackageAccepted,
    watch: WatchView,
    event: PackageStatusEvent,
    payload: PackageEventData,
) -> None:
    bogus: PackageStatus = "BOGUS"  # type: ignore[assignment]
    row.status = "BOGUS"  # type: ignore[assignment]
    view.status = "BOGUS"  # type: ignore[assignment]
    status.status = "BOGUS"  # type: ignore[assignment]
    accepted.status = "BOGUS"  # type: ignore[assignment]
    watch.status = "BOGUS"  # type: ignore[assignment]
    event.status = "BOGUS"  # type: ignore[assignment]
    payload.status = "BOGUS"  # type: ignore[assignment]
    progress: str = status.progress  # type: ignore[assignment]
    del bogus, progress


def one_status_type(row: PackageSummary, view: PackageView, event: PackageStatusEvent) -> list[PackageStatus]:
    """Every place's status is the one enum."""
    return [row.status, view.status, event.status]


def copy_subscriptions(source: Endpoint) -> EndpointUpdate:
    """One endpoint's subscriptions are another's update: one WebhookEventType, not six."""
    types: list[WebhookEventType] = source.event_types
    return EndpointUpdate(event_types=types)

"""Packages rendered as the upstream's JSON payloads (the guide's field names)."""

from datetime import date
from typing import Any

from app.simulator.csv_stream import preview
from app.simulator.state import DONE, EXPIRED, Package, Store

_MODEL_FACTOR = {"EVENTS_FROM_PACKAGE": 1.0, "ALL_EVENTS": 1.6}


def package_summary(store: Store, package: Package) -> dict[str, Any]:
    """One entry of `GET /package_builder/packages/`."""
    status, progress = store.status(package)
    return {
        "id": package.id,
        "title": package.title,
        "status": status,
        "merge_id": package.merge_id,
        "created_at": package.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "events": [dict(event) for event in package.events],
        "targeting_mode": package.targeting_mode,
        "progress": progress,
    }


def package_detail(store: Store, package: Package) -> dict[str, Any]:
    """`GET /package_builder/packages/{id}`: `content` only once a build has produced it."""
    payload = package_summary(store, package)
    payload["filter_settings"] = dict(package.filter_settings)
    if payload["status"] in (DONE, EXPIRED):
        payload["content"] = {
            tc: {
                "customers": stats.customers,
                "items": stats.items,
                "purchase": stats.purchase,
                "preview": preview(package.id, index, stats.customers),
            }
            for index, (tc, stats) in enumerate(package.cluster_stats().items())
        }
    return payload


def evaluation(package: Package) -> dict[str, Any]:
    """Attributed results: a deterministic share of each cluster that moves with the settings."""
    settings = package.evaluation
    share = (0.02 + 0.5 * settings.window / 365) * _MODEL_FACTOR[settings.model]
    if settings.email_sent_date is not None:
        share *= 1 + (date.fromisoformat(settings.email_sent_date).toordinal() % 7 + 1) / 50
    clusters = {
        tc: {
            "customers": round(stats.customers * share),
            "items": round(stats.items * share),
            "purchase": round(stats.purchase * share),
        }
        for tc, stats in package.cluster_stats().items()
    }
    return {"clusters": clusters}

"""The process's upstream client, as the settings describe it."""

from __future__ import annotations

from typing import Any

from app.kit.settings import Settings
from app.upstream.client import PackageBuilderClient


def make_upstream(settings: Settings) -> PackageBuilderClient:
    """The upstream client; with demo partners configured, one that serves them fixtures."""
    options: dict[str, Any] = {
        "timeout_s": settings.upstream_timeout_s,
        "connect_timeout_s": settings.upstream_connect_timeout_s,
        "max_connections": settings.upstream_max_connections,
        "retries": settings.upstream_retries,
        "deadline_s": settings.upstream_deadline_s,
        "max_answer_bytes": settings.upstream_max_answer_bytes,
    }
    if settings.demo_partner_ids:
        from app.upstream.demo import DemoRoutingClient

        return DemoRoutingClient(
            settings.upstream_base,
            settings.data_integrations_base,
            demo_partner_ids=settings.demo_partner_ids,
            **options,
        )
    return PackageBuilderClient(settings.upstream_base, settings.data_integrations_base, **options)

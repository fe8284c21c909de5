"""The 202 of a started build, shared by create, merge, regenerate and draft submit."""

from __future__ import annotations

from urllib.parse import quote

from app.builds.links import events_segments
from app.idempotency import Answer
from app.kit.links import EVENTS_LINK_S, LinkSigner
from app.kit.settings import Settings
from app.packages.schemas import PackageAccepted
from app.upstream.models import PackageStatus


def package_accepted(
    settings: Settings,
    links: LinkSigner,
    partner_id: str,
    package_id: str,
    status_: PackageStatus = PackageStatus.INITIALIZING,
) -> Answer[PackageAccepted]:
    """With ``Location`` (the results view), ``Retry-After`` (the poll interval) and a
    signed ``events_url`` the browser's ``EventSource`` can open."""
    path = f"/v1/packages/{quote(package_id, safe='')}"
    base = settings.public_base
    body = PackageAccepted(
        id=package_id,
        status=status_,
        status_url=f"{base}{path}/status",
        events_url=links.url(events_segments(package_id), partner_id, EVENTS_LINK_S),
        results_url=f"{base}{path}",
    )
    headers = {"Location": path, "Retry-After": str(max(1, round(settings.poll_interval_s)))}
    return Answer(body, headers)

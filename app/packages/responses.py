"""Responses the packages routes build themselves: the 202 of a started build (shared by
create, merge, regenerate and draft submit) and views serialised once, straight to bytes."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import quote

from fastapi import Response, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from app.kit.links import EVENTS_LINK_S, LinkSigner, events_segments
from app.kit.settings import Settings
from app.packages.schemas import PackageAccepted


def package_accepted(
    settings: Settings, links: LinkSigner, partner_id: str, package_id: str, status_: str = "INITIALIZING"
) -> JSONResponse:
    """202 with ``Location`` (the results view), ``Retry-After`` (the poll interval) and a
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
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED, headers=headers)


T = TypeVar("T")


def json_response(adapter: TypeAdapter[T], value: T, headers: dict[str, str] | None = None) -> Response:
    """``value`` as JSON bytes, serialised once by pydantic-core; returning a Response skips
    FastAPI's second validation and serialisation of the route's ``response_model``."""
    return Response(adapter.dump_json(value), media_type="application/json", headers=headers)

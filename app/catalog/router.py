"""``GET /v1/events`` and ``GET /v1/customers/resolve``: thin proxies for the wizard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import CallContextDep
from app.catalog.deps import CatalogServiceDep
from app.catalog.schemas import CustomerResolution, EventSearchResults
from app.kit.errors import UPSTREAM_ERRORS
from app.kit.types import IsoDate

router = APIRouter(prefix="/v1", tags=["catalog"])
ERRORS = UPSTREAM_ERRORS


@router.get(
    "/events",
    name="search_events",
    summary="Search events",
    response_model=EventSearchResults,
    responses=ERRORS,
)
async def search_events(
    ctx: CallContextDep,
    catalog: CatalogServiceDep,
    search: Annotated[str, Query(max_length=200, description="text to look for")] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    since: Annotated[IsoDate | None, Query(description="only events on or after (ISO date)")] = None,
) -> EventSearchResults:
    """Event search for the wizard's picker, relayed from the upstream (an answer without a
    `results` list of events with ids is a 502); cached briefly."""
    return await catalog.search_events(ctx, search=search, page=page, since=since)


@router.get(
    "/customers/resolve",
    name="resolve_customers",
    summary="Resolve customers from a description",
    response_model=CustomerResolution,
    responses=ERRORS,
)
async def resolve_customers(
    ctx: CallContextDep,
    catalog: CatalogServiceDep,
    description: Annotated[str, Query(min_length=1, max_length=2000)],
    result_type: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
) -> CustomerResolution:
    """A natural-language customer filter resolved into customer ids (relayed from the
    upstream; an answer without an `ids` list is a 502)."""
    return await catalog.resolve_customers(
        ctx, description=description, result_type=result_type, language=language
    )

"""Event search, the natural-language customer resolver and the data-integrations export."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from app.simulator import catalog
from app.simulator.deps import PartnerDep, SimulatorDep
from app.simulator.schemas import ExportRequest
from app.simulator.state import DONE

router = APIRouter()


def _invalid(field: str, value: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}]
    )


def _page(raw: str | None) -> int:
    """The webapp sends `page=` empty: that means the first page, not an error."""
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise _invalid("page", raw, "page must be an integer >= 1")
    return int(raw)


def _since(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise _invalid("since", raw, "since must be an ISO date YYYY-MM-DD") from None


@router.get("/events", name="search_events", tags=["events"])
async def search_events(
    partner: PartnerDep, search: str = "", page: str | None = None, since: str | None = None
) -> dict[str, Any]:
    """Paged catalogue search: case-insensitive substring of title or venue, dated on/after `since`."""
    page_number, since_date = _page(page), _since(since)
    matches = catalog.search_events(search, since_date)
    start = (page_number - 1) * catalog.PAGE_SIZE
    return {
        "results": [event.as_json() for event in matches[start : start + catalog.PAGE_SIZE]],
        "page": page_number,
        "page_size": catalog.PAGE_SIZE,
        "total": len(matches),
        "has_more": start + catalog.PAGE_SIZE < len(matches),
    }


@router.get("/nlq/ids_from_nl_description", name="nlq_ids", tags=["nlq"])
async def nlq_ids(
    partner: PartnerDep,
    description: Annotated[str, Query(min_length=1)],
    result_type: str = "",
    language: str = "",
) -> dict[str, Any]:
    """Resolve a natural-language filter to ids; the same description always gives the same ids."""
    result_type, language = result_type or "customers", language or "en"
    return {
        "ids": catalog.nlq_ids(description, result_type, language),
        "result_type": result_type,
        "language": language,
    }


@router.post("/exports", name="create_export", status_code=202, tags=["data-integrations"])
async def create_export(body: ExportRequest, partner: PartnerDep, simulator: SimulatorDep) -> dict[str, str]:
    """Accept a CRM export of one cluster of a DONE package."""
    store = simulator.store
    package = store.get(partner, body.packageId)
    store.require_status(package, DONE)
    if body.tc not in package.clusters():
        raise HTTPException(404, f"package {package.id} has no cluster {body.tc!r}")
    export_id = f"exp_{len(store.exports) + 1}"
    store.exports.append({"id": export_id, "partner_id": partner, **body.model_dump()})
    return {"id": export_id, "status": "ACCEPTED"}

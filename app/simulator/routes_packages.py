"""The Package Builder routes, at exactly the guide's paths (trailing slash on the list only)."""

from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Scope

from app.simulator.catalog import event_title
from app.simulator.csv_stream import CustomerList
from app.simulator.deps import PartnerDep, SimulatorDep
from app.simulator.schemas import CreatePackage, EvaluationDetails
from app.simulator.state import DONE, INITIALIZING
from app.simulator.views import evaluation, package_detail, package_summary

router = APIRouter(prefix="/package_builder/packages", tags=["package_builder"])


@router.get("/", name="list_packages")
async def list_packages(partner: PartnerDep, simulator: SimulatorDep) -> list[dict[str, Any]]:
    """All packages of the partner."""
    store = simulator.store
    return [package_summary(store, package) for package in store.of_partner(partner)]


@router.post("", name="create_package")
async def create_package(body: CreatePackage, partner: PartnerDep, simulator: SimulatorDep) -> dict[str, str]:
    """Start an asynchronous build; the package is INITIALIZING."""
    package = simulator.store.create(
        partner,
        title=body.package_title,
        targeting_mode=body.targeting_mode,
        filter_settings=body.filters.model_dump(),
        events=[{"id": event_id, "title": event_title(event_id)} for event_id in body.event_ids],
        num_packages=body.num_packages,
    )
    return {"id": package.id}


@router.post("/merge", name="merge_packages")
async def merge_packages(
    request: Request,
    partner: PartnerDep,
    simulator: SimulatorDep,
    packages_ids: Annotated[list[str] | None, Query()] = None,
) -> dict[str, str]:
    """Merge packages named by repeated `packages_ids` query parameters; a body is refused."""
    if await request.body():
        raise HTTPException(400, "merge takes no body: pass repeated packages_ids query parameters")
    package_ids = list(dict.fromkeys(packages_ids or []))
    if len(package_ids) < 2:
        raise HTTPException(400, "merge needs at least two distinct packages_ids")
    return {"id": simulator.store.merge(partner, package_ids).id}


@router.get("/{package_id}", name="get_package")
async def get_package(package_id: str, partner: PartnerDep, simulator: SimulatorDep) -> dict[str, Any]:
    """The package payload; `content` is present once the package is DONE (or EXPIRED)."""
    store = simulator.store
    return package_detail(store, store.get(partner, package_id))


@router.get("/{package_id}/backhaul_evaluation_details", name="get_evaluation_details")
async def get_evaluation_details(
    package_id: str, partner: PartnerDep, simulator: SimulatorDep
) -> dict[str, Any]:
    """Current attribution settings."""
    return simulator.store.get(partner, package_id).evaluation.as_json()


@router.put("/{package_id}/backhaul_evaluation_details", name="put_evaluation_details")
async def put_evaluation_details(
    package_id: str, body: EvaluationDetails, partner: PartnerDep, simulator: SimulatorDep
) -> dict[str, Any]:
    """Save attribution settings; the next evaluation read reflects them."""
    settings = simulator.store.get(partner, package_id).evaluation
    settings.window = body.backhaul_evaluation_attribution_window
    settings.model = body.backhaul_evaluation_model
    settings.email_sent_date = body.email_sent_date
    return settings.as_json()


@router.get("/{package_id}/backhaul_evaluation", name="get_evaluation")
async def get_evaluation(package_id: str, partner: PartnerDep, simulator: SimulatorDep) -> dict[str, Any]:
    """Per-cluster attributed results; only a DONE package has them."""
    store = simulator.store
    package = store.get(partner, package_id)
    store.require_status(package, DONE)
    return evaluation(package)


@router.post("/{package_id}/regenerate", name="regenerate_package")
async def regenerate_package(package_id: str, partner: PartnerDep, simulator: SimulatorDep) -> dict[str, str]:
    """Rebuild an EXPIRED package (409 otherwise)."""
    store = simulator.store
    store.regenerate(store.get(partner, package_id))
    return {"id": package_id, "status": INITIALIZING}


@router.get(
    "/{package_id}/{tc:path}/customer_list",
    name="get_customer_list",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "header row, then one row per customer"}},
)
async def get_customer_list(
    request: Request, package_id: str, tc: str, partner: PartnerDep, simulator: SimulatorDep
) -> StreamingResponse:
    """One cluster's customers as CSV, streamed; `tc` must arrive as ONE percent-encoded segment."""
    store = simulator.store
    package = store.get(partner, package_id)
    store.require_status(package, DONE)
    cluster = _raw_tc(request.scope, package_id, tc)
    clusters = package.cluster_stats()
    if cluster not in clusters:
        raise HTTPException(404, f"package {package_id} has no cluster {cluster!r}")
    customers = CustomerList(package_id, list(clusters).index(cluster), clusters[cluster].customers)
    return StreamingResponse(
        customers.chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"content-length": str(customers.content_length)},
    )


def _raw_tc(scope: Scope, package_id: str, decoded_tc: str) -> str:
    """The tc from the raw path, so an encoded `/` stays inside the name and a bare one is a 404."""
    raw_path: bytes | None = scope.get("raw_path")
    if not raw_path:
        return decoded_tc
    segments = raw_path.split(b"?", 1)[0].split(b"/")
    if len(segments) < 5 or segments[-4] != b"packages" or segments[-3] != package_id.encode():
        raise HTTPException(404, "tc must be sent as one percent-encoded path segment")
    try:
        return unquote_to_bytes(segments[-2]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(404, "tc is not valid UTF-8") from exc

"""`/_sim/*`: unauthenticated control endpoints for tests, demos and benchmarks."""

import random
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response

from app.simulator.catalog import sample_events
from app.simulator.deps import SimulatorDep
from app.simulator.faults import FaultSpec
from app.simulator.schemas import BulkPackages, ConfigPatch, ForcedPackage, ForceStatus
from app.simulator.seed import default_filters
from app.simulator.views import package_detail

router = APIRouter(prefix="/_sim", tags=["simulator control"])


@router.post("/reset", status_code=204, name="sim_reset")
async def sim_reset(simulator: SimulatorDep) -> Response:
    """Forget every package, partner, export, fault and counter; config back to startup values."""
    simulator.reset()
    return Response(status_code=204)


@router.get("/config", name="sim_get_config")
async def sim_get_config(simulator: SimulatorDep) -> dict[str, Any]:
    return asdict(simulator.store.config)


@router.patch("/config", name="sim_patch_config")
async def sim_patch_config(body: ConfigPatch, simulator: SimulatorDep) -> dict[str, Any]:
    """Change knobs at runtime; build_seconds applies to builds started afterwards."""
    config = simulator.store.config
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(config, name, value)
    return asdict(config)


@router.post("/packages", status_code=201, name="sim_create_package")
async def sim_create_package(body: ForcedPackage, simulator: SimulatorDep) -> dict[str, Any]:
    """A package created directly in a forced state, with exact clusters and sizes if given."""
    store = simulator.store
    store.ensure_partner(body.partner_id)
    package = store.create(
        body.partner_id,
        title=body.title or "Simulated package",
        targeting_mode=body.targeting_mode,
        filter_settings=default_filters(),
        events=[],
        num_packages=len(body.clusters) if body.clusters else 3,
        merge_id=body.merge_id,
        fixed_clusters=body.clusters,
        customers_per_cluster=body.customers_per_cluster,
    )
    if body.title is None:
        package.title = f"Simulated package {package.id}"
    if body.events is None:
        package.events = sample_events(f"forced:{package.id}", 2)
    else:
        package.events = [event.model_dump() for event in body.events]
    store.force(package, body.status, body.progress)
    return package_detail(store, package)


@router.post("/packages/bulk", status_code=201, name="sim_create_packages")
async def sim_create_packages(body: BulkPackages, simulator: SimulatorDep) -> dict[str, Any]:
    """Many packages in one call: ``[{id, done_at}]`` (``done_at``: when a real build ends)."""
    store = simulator.store
    store.ensure_partner(body.partner_id)
    low, high = body.build_seconds or (store.config.build_seconds, store.config.build_seconds)
    rng = random.Random(f"{body.partner_id}:{len(store.packages)}")
    created = []
    for _ in range(body.count):
        package = store.create(
            body.partner_id,
            title="Bulk package",
            targeting_mode="lookalike",
            filter_settings=default_filters(),
            events=[],
            num_packages=3,
            build_seconds=rng.uniform(low, high),
        )
        package.title = f"Bulk package {package.id}"
        package.events = sample_events(f"bulk:{package.id}", 2)
        if body.status is not None:
            store.force(package, body.status, body.progress)
        created.append({"id": package.id, "done_at": package.build.started_at + package.build.seconds})
    return {"packages": created}


@router.post("/packages/{package_id}/status", name="sim_force_status")
async def sim_force_status(package_id: str, body: ForceStatus, simulator: SimulatorDep) -> dict[str, Any]:
    """Pin a package's status (and progress) until it is regenerated."""
    store = simulator.store
    package = store.find(package_id)
    store.force(package, body.status, body.progress)
    return package_detail(store, package)


@router.get("/faults", name="sim_list_faults")
async def sim_list_faults(simulator: SimulatorDep) -> dict[str, Any]:
    return {"faults": [fault.model_dump() for fault in simulator.faults.faults]}


@router.post("/faults", status_code=201, name="sim_add_fault")
async def sim_add_fault(body: FaultSpec, simulator: SimulatorDep) -> dict[str, Any]:
    """Add a fault rule (first match wins); answers with every active rule."""
    simulator.faults.add(body)
    return {"faults": [fault.model_dump() for fault in simulator.faults.faults]}


@router.delete("/faults", status_code=204, name="sim_clear_faults")
async def sim_clear_faults(simulator: SimulatorDep) -> Response:
    simulator.faults.reset()
    return Response(status_code=204)


@router.get("/stats", name="sim_get_stats")
async def sim_get_stats(simulator: SimulatorDep) -> dict[str, Any]:
    return simulator.stats.as_json()


@router.post("/stats/reset", status_code=204, name="sim_reset_stats")
async def sim_reset_stats(simulator: SimulatorDep) -> Response:
    simulator.stats.reset()
    return Response(status_code=204)


@router.get("/exports", name="sim_list_exports")
async def sim_list_exports(simulator: SimulatorDep, partner_id: str | None = None) -> dict[str, Any]:
    """Exports the data-integrations layer accepted, oldest first (optionally for one partner)."""
    exports = simulator.store.exports
    return {"exports": [export for export in exports if partner_id in (None, export["partner_id"])]}

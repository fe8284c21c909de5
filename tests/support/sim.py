"""Helpers over the simulator's control endpoints (``/_sim/…``)."""

from __future__ import annotations

from typing import Any

import httpx


async def make_package(
    sim: httpx.AsyncClient, partner: str, status: str = "DONE", **fields: Any
) -> dict[str, Any]:
    """A package of ``partner`` created directly in ``status`` (clusters, sizes as given)."""
    response = await sim.post("/_sim/packages", json={"partner_id": partner, "status": status, **fields})
    response.raise_for_status()
    return response.json()


async def force_status(
    sim: httpx.AsyncClient, package_id: str, status: str, progress: int | None = None
) -> None:
    body: dict[str, Any] = {"status": status}
    if progress is not None:
        body["progress"] = progress
    (await sim.post(f"/_sim/packages/{package_id}/status", json=body)).raise_for_status()


async def add_fault(sim: httpx.AsyncClient, route: str, partner: str, **spec: Any) -> None:
    """A fault on one upstream operation for ``partner`` only, so that other callers
    (the session worker polling other partners) neither see nor consume it."""
    body = {"route": route, "partner_id": partner, **spec}
    (await sim.post("/_sim/faults", json=body)).raise_for_status()


async def upstream_calls(sim: httpx.AsyncClient, partner: str) -> dict[str, int]:
    """Requests the simulator received for ``partner``, per upstream operation."""
    stats = (await sim.get("/_sim/stats")).json()
    return dict(stats.get("by_partner", {}).get(partner, {}))

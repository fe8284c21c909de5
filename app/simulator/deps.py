"""The simulator's shared state and the FastAPI dependencies that hand it to routes."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from app.simulator.faults import FaultBook, Stats
from app.simulator.settings import SimulatorSettings
from app.simulator.state import Store


@dataclass
class Simulator:
    settings: SimulatorSettings
    store: Store
    faults: FaultBook
    stats: Stats

    def reset(self) -> None:
        self.store.reset()
        self.faults.reset()
        self.stats.reset()


def get_simulator(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


SimulatorDep = Annotated[Simulator, Depends(get_simulator)]


def require_partner(
    simulator: SimulatorDep,
    authorization: Annotated[str | None, Header()] = None,
    x_preferred_partner_id: Annotated[str | None, Header()] = None,
) -> str:
    """Any non-empty bearer token passes (the real upstream checks it; we only need its shape)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing or malformed bearer token", {"WWW-Authenticate": "Bearer"})
    partner_id = (x_preferred_partner_id or "").strip()
    if not partner_id:
        raise HTTPException(400, "X-Preferred-Partner-Id header is required")
    simulator.store.ensure_partner(partner_id)
    return partner_id


PartnerDep = Annotated[str, Depends(require_partner)]

"""``/healthz`` (alive), ``/readyz`` (Redis answers; the upstream's state reported). ``/metrics``
is served on a port of its own (``BFF_API_METRICS_PORT``), never on the public one."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from app.kit.deps import RedisDep
from app.kit.types import examples
from app.upstream.deps import UpstreamDep

router = APIRouter(tags=["operations"])


class CheckState(StrEnum):
    """One dependency's state as this replica sees it."""

    OK = "ok"
    DOWN = "down"


class Health(BaseModel):
    model_config = examples({"status": "ok"})

    status: Literal["ok"]


class ReadinessChecks(BaseModel):
    model_config = examples({"redis": "ok", "upstream": "ok"})

    redis: CheckState
    upstream: CheckState = Field(description="reported only: it never makes a replica unready")


class Readiness(BaseModel):
    model_config = examples(
        {"status": "ready", "checks": {"redis": "ok", "upstream": "down"}},
        {"status": "not-ready", "checks": {"redis": "down", "upstream": "ok"}},
    )

    status: Literal["ready", "not-ready"]
    checks: ReadinessChecks


@router.get("/healthz", name="get_health", summary="Liveness", response_model=Health)
async def get_health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get(
    "/readyz",
    name="get_readiness",
    summary="Readiness",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Redis does not answer"}},
)
async def get_readiness(redis: RedisDep, upstream: UpstreamDep, response: Response) -> Readiness:
    """Readiness: 200 while Redis answers PING, 503 otherwise. The upstream's state is in
    `checks.upstream` but never makes a replica unready: every replica shares the one
    upstream, so an upstream outage would only empty the load balancer."""

    async def redis_ok() -> bool:
        try:
            return bool(await asyncio.wait_for(redis.ping(), timeout=2.0))
        except Exception:  # any failure means not ready; the reason is not the caller's
            return False

    redis_ready, upstream_ready = await asyncio.gather(redis_ok(), upstream.ping())
    if not redis_ready:
        response.status_code = 503
    return Readiness(
        status="ready" if redis_ready else "not-ready",
        checks=ReadinessChecks(
            redis=CheckState.OK if redis_ready else CheckState.DOWN,
            upstream=CheckState.OK if upstream_ready else CheckState.DOWN,
        ),
    )

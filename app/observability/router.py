"""``/healthz`` (alive), ``/readyz`` (Redis and upstream answer), ``/metrics``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from app.deps import ServicesDep
from app.observability import metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", name="get_health")
async def get_health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", name="get_readiness")
async def get_readiness(svc: ServicesDep) -> JSONResponse:
    """Readiness: Redis answers PING and the upstream answers HTTP; 503 otherwise."""

    async def redis_ok() -> bool:
        try:
            return bool(await asyncio.wait_for(svc.redis.ping(), timeout=2.0))
        except Exception:  # any failure means not ready; the reason is not the caller's
            return False

    redis_ready, upstream_ready = await asyncio.gather(redis_ok(), svc.upstream.ping())
    checks = {"redis": "ok" if redis_ready else "down", "upstream": "ok" if upstream_ready else "down"}
    ready = redis_ready and upstream_ready
    return JSONResponse(
        {"status": "ready" if ready else "not-ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", name="get_metrics", include_in_schema=False)
async def get_metrics() -> Response:
    """Prometheus exposition."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)

"""The worker's own Redis key (beside arq's queue, which arq names)."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, key_part


def worker_health(host: str) -> str:
    """arq's health check of the workers on one host (pod): written by each every
    ``health_check_interval``, TTL that + 1 s; read by ``arq --check`` on the same host."""
    return f"{PREFIX}:worker:health:{key_part(host)}"

"""The arq worker: ``arq app.worker.WorkerSettings`` or ``python -m app worker``."""

from app.worker.settings import WorkerSettings

__all__ = ["WorkerSettings"]

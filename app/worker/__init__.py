"""The arq worker: ``arq app.worker.WorkerSettings`` or ``python -m app worker``.

``WorkerSettings`` is imported when first asked for, not with the package: the status
poller imports ``app.worker.run``, and the settings import the poller, so an eager import
here would make importing the poller first a circular import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.worker.settings import WorkerSettings

__all__ = ["WorkerSettings"]


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        from app.worker.settings import WorkerSettings

        return WorkerSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

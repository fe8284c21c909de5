"""The simulator's state kept in a JSON file (``SIM_STATE_FILE``), so a restart of the dev stack
loses no package and never hands out an id again.

A BFF keeps, in its Redis, what it already announced for each package id (DONE webhooks,
exports); an upstream that forgot its packages and counted from 1001 again would make those
markers swallow the new builds' events. The file is written after each request that changed
something (atomically: a temporary file renamed over it) and read once at start. A fresh file
starts its ids from the clock, so even a BFF whose Redis outlived a deleted file sees new ids.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.simulator.state import Build, EvaluationSettings, Package, Store

logger = logging.getLogger("simulator")

FORMAT = 1
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a restart must keep: packages, the partners already seeded, exports, the
    next id. The runtime config is not kept: it comes from ``SIM_*`` at each start."""
    packages = []
    for package in store.packages.values():
        record = asdict(package)
        record["created_at"] = package.created_at.isoformat()
        packages.append(record)
    return {
        "format": FORMAT,
        "next_package_id": store.next_package_id,
        "partners": sorted(store.partners),
        "packages": packages,
        "exports": store.exports,
    }


def restore(store: Store, data: dict[str, Any]) -> None:
    """The state ``snapshot`` wrote, put back into a fresh ``store``."""
    for record in data["packages"]:
        fields = dict(record)
        fields["build"] = Build(**fields["build"])
        fields["evaluation"] = EvaluationSettings(**fields["evaluation"])
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        store.add(Package(**fields))
    store.partners.update(data["partners"])
    store.exports.extend(data["exports"])
    store.next_package_id = max(store.next_package_id, int(data["next_package_id"]))


def load(store: Store, path: Path) -> None:
    """Read the kept state, or start a fresh one whose ids come from the clock."""
    if not path.exists():
        store.next_package_id = int(store.clock())
        return
    restore(store, json.loads(path.read_text(encoding="utf-8")))
    logger.warning("simulator: %d packages read from %s", len(store.packages), path)


def save(store: Store, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(snapshot(store)), encoding="utf-8")
    os.replace(temporary, path)


class KeepState:
    """ASGI middleware: after a request that changed the store, write it to ``path``. Ids
    never go back, not even after ``/_sim/reset``."""

    def __init__(self, app: ASGIApp, *, store: Store, path: Path) -> None:
        self.app = app
        self.store = store
        self.path = path
        self.saved = store.revision
        self.next_id = store.next_package_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                if scope["method"] not in READ_ONLY_METHODS:
                    self.store.revision += 1  # a route may have changed a package's fields
                store = self.store
                store.next_package_id = max(store.next_package_id, self.next_id)
                self.next_id = store.next_package_id
                if store.revision != self.saved:
                    self.saved = store.revision
                    save(store, self.path)

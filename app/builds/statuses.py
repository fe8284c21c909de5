"""The last known status of each package and its change feed (Redis pub/sub).

Whoever reads a status upstream (the worker's poll, an SSE stream opening) reports
it here; a change gets the next sequence number, is stored and is published, all
in one script, so numbers only increase and subscribers see them in order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.outbox import Outbox
from app.builds import keys as build_keys
from app.kit import lua
from app.kit.keyspace import key_part
from app.listing.rows import HasStatus, progress_of
from app.observability.metrics import observe_detection_lag
from app.upstream.models import TERMINAL_STATUSES, PackageStatus, known_status

logger = logging.getLogger("app.builds")

OBSERVATIONS_PER_CALL = 500  # bounds one script's run (Redis serves nobody else meanwhile)


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """``{id, status, progress, seq}`` as stored and published (plus ``at``, the Redis
    clock in ms when it was written)."""

    id: str
    status: PackageStatus
    progress: int | None
    seq: int

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def parse(cls, raw: str | bytes) -> StatusRecord:
        doc = json.loads(raw)
        progress = doc.get("progress")
        return cls(
            id=str(doc["id"]),
            status=known_status(doc["status"]),
            progress=int(progress) if progress is not None else None,
            seq=int(doc["seq"]),
        )

    def as_json(self) -> str:
        """What clients see of it."""
        return json.dumps(
            {"id": self.id, "status": self.status, "progress": self.progress, "seq": self.seq},
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """A status read upstream; ``observed_at_ms`` (Redis clock) is taken before the read."""

    package_id: str
    status: str
    progress: int | None
    observed_at_ms: int

    @classmethod
    def of(cls, package: HasStatus, observed_at_ms: int) -> Observation:
        return cls(package.id, package.status, progress_of(package), observed_at_ms)


class StatusStore:
    """Stores and publishes status changes; reads the last one. With an ``outbox``, each
    change is also a ``package.status`` event, recorded by the script that decides it and
    then published (the activity log, the webhooks)."""

    def __init__(self, redis: Redis, outbox: Outbox | None = None) -> None:
        self._redis = redis
        self._outbox = outbox
        self._observe = lua.script(redis, "builds/lua/observe.lua")
        self._observe_many = lua.script(redis, "builds/lua/observe_many.lua")
        self._fresh = lua.script(redis, "builds/lua/fresh_status.lua")

    async def observe(self, partner_id: str, observation: Observation) -> StatusRecord:
        """Report a status read upstream; returns the current record (maybe newer)."""
        await self._mark(partner_id)
        _, raw, *recorded = await self._observe(
            keys=[
                activity_keys.outbox(partner_id),
                build_keys.package_status(partner_id, observation.package_id),
            ],
            args=[
                *self._common_args(partner_id, observation.observed_at_ms),
                observation.package_id,
                observation.status,
                _progress_arg(observation.progress),
            ],
        )
        await self._publish(partner_id, len(recorded))
        return StatusRecord.parse(raw)

    async def observe_many(
        self,
        partner_id: str,
        packages: Sequence[HasStatus],
        *,
        observed_at_ms: int,
        previous_poll_ms: int | None,
    ) -> int:
        """A whole poll's reading (begun at ``observed_at_ms``) in one script call per 500;
        returns how many were changes. Three arguments and a key per package, and no JSON
        made here: a poll observes every watched build each interval. Builds seen finishing
        feed the detection-lag metric: the time since each was last known building (its
        last recorded change, or the partner's previous complete poll ``previous_poll_ms``,
        the later) — an upper bound of how late the end was noticed."""
        changed = 0
        common = self._common_args(partner_id, observed_at_ms)
        key_prefix = build_keys.package_status_prefix(partner_id)
        await self._mark(partner_id)
        for start in range(0, len(packages), OBSERVATIONS_PER_CALL):
            keys = [activity_keys.outbox(partner_id)]
            args: list[str | int] = list(common)
            for package in packages[start : start + OBSERVATIONS_PER_CALL]:
                keys.append(key_prefix + key_part(package.id))
                args += (package.id, package.status, _progress_arg(progress_of(package)))
            count, building_since, recorded = await self._observe_many(keys=keys, args=args)
            changed += int(count)
            for since in building_since:
                seen_building = max(previous_poll_ms or 0, int(since))
                observe_detection_lag(max(0, observed_at_ms - seen_building) / 1000)
            await self._publish(partner_id, int(recorded))
        return changed

    async def _mark(self, partner_id: str) -> None:
        if self._outbox is not None:
            await self._outbox.mark(partner_id)

    async def _publish(self, partner_id: str, recorded: int) -> None:
        """Publish the changes just recorded. The change and its event are kept whatever
        happens here; what is not published is the worker's sweep's (``app.activity.outbox``)."""
        if self._outbox is None or not recorded:
            return
        try:
            await self._outbox.publish(partner_id)
        except Exception as exc:
            logger.warning("package.status events of %s left to the sweep: %r", partner_id, exc)

    async def fresh(
        self, partner_id: str, package_id: str, max_age_ms: int
    ) -> tuple[StatusRecord, int] | None:
        """The stored status and its age (ms) when a poll read it less than ``max_age_ms``
        ago, else None. Keyed by partner: only the partner's own watches can answer."""
        found = await self._fresh(
            keys=[
                build_keys.package_status(partner_id, package_id),
                build_keys.watch_set(partner_id),
                build_keys.watch_poll_stats(partner_id),
            ],
            args=[package_id, max_age_ms],
        )
        if not found:
            return None
        raw, age = found
        return StatusRecord.parse(raw), int(age)

    async def get(self, partner_id: str, package_id: str) -> StatusRecord | None:
        raw = await self._redis.get(build_keys.package_status(partner_id, package_id))
        return StatusRecord.parse(raw) if raw else None

    def _common_args(self, partner_id: str, observed_at_ms: int) -> list[str | int]:
        """``status_context``'s arguments (builds/lua/status_rules.lua)."""
        return [
            build_keys.PACKAGE_STATUS_TTL_S * 1000,
            observed_at_ms,
            build_keys.package_status_prefix(partner_id),
            build_keys.status_channel_prefix(partner_id),
            partner_id,
            "1" if self._outbox is not None else "",
            self._outbox.ttl_ms if self._outbox is not None else 0,
        ]


def _progress_arg(progress: int | None) -> str:
    return "" if progress is None else str(progress)

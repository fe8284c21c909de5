"""The last known status of each package and its change feed (Redis pub/sub).

Whoever reads a status upstream (the worker's poll, an SSE stream opening) reports
it here; a change gets the next sequence number, is stored and is published, all
in one script, so numbers only increase and subscribers see them in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from app import redis_keys
from app.observability.metrics import observe_detection_lag
from app.upstream.models import TERMINAL_STATUSES

# KEYS: status key, channel.
# ARGV: status, progress ('' = unknown), record head, ttl ms, observation start (ms).
# Stale reads of concurrent observers are ignored: a read that began before the stored
# status was written, and a build going back (unless it had ended: a rebuild starts over).
_OBSERVE = """
local ranks = {INITIALIZING = 0, INPROGRESS = 1}
local function rank(status) return ranks[status] or 2 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = redis.call('GET', KEYS[1])
local seq = 0
if current then
  local doc = cjson.decode(current)
  seq = tonumber(doc.seq) or 0
  local progress = ''
  if type(doc.progress) == 'number' then progress = string.format('%d', doc.progress) end
  if doc.status == ARGV[1] and progress == ARGV[2] then return {0, current} end
  if (tonumber(doc.at) or 0) >= tonumber(ARGV[5]) then return {0, current} end
  local old, new = rank(doc.status), rank(ARGV[1])
  if old < 2 then
    if new < old then return {0, current} end
    if new == old and ARGV[2] ~= '' and progress ~= ''
       and tonumber(ARGV[2]) < tonumber(progress) then return {0, current} end
  end
end
seq = seq + 1
local record = ARGV[3] .. ',"seq":' .. string.format('%d', seq)
  .. ',"at":' .. string.format('%d', now) .. '}'
redis.call('SET', KEYS[1], record, 'PX', ARGV[4])
redis.call('PUBLISH', KEYS[2], record)
return {1, record}
"""


class HasStatus(Protocol):
    """A package as listed, fetched, or read for its status only."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> float | None: ...


# The same rules for a whole poll in one call. KEYS: (status key, channel) per observation.
# ARGV: ttl ms, then (status, progress, record head, observation start) per observation.
_OBSERVE_MANY = """
local ranks = {INITIALIZING = 0, INPROGRESS = 1}
local function rank(status) return ranks[status] or 2 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function observe(key, channel, status, progress_arg, head, start)
  local current = redis.call('GET', key)
  local seq = 0
  local finished_since = nil
  if current then
    local doc = cjson.decode(current)
    seq = tonumber(doc.seq) or 0
    local progress = ''
    if type(doc.progress) == 'number' then progress = string.format('%d', doc.progress) end
    if doc.status == status and progress == progress_arg then return 0 end
    if (tonumber(doc.at) or 0) >= tonumber(start) then return 0 end
    local old, new = rank(doc.status), rank(status)
    if old < 2 then
      if new < old then return 0 end
      if new == old and progress_arg ~= '' and progress ~= ''
         and tonumber(progress_arg) < tonumber(progress) then return 0 end
      if new == 2 then finished_since = tonumber(doc.at) or 0 end
    end
  end
  seq = seq + 1
  local record = head .. ',"seq":' .. string.format('%d', seq) .. ',"at":' .. string.format('%d', now) .. '}'
  redis.call('SET', key, record, 'PX', ARGV[1])
  redis.call('PUBLISH', channel, record)
  return 1, finished_since
end
-- Returns {changes, then for each build seen finishing: when it was last recorded building}.
local result = {0}
for i = 1, #KEYS / 2 do
  local a = 2 + (i - 1) * 4
  local changed, finished_since = observe(KEYS[2 * i - 1], KEYS[2 * i],
                                         ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
  result[1] = result[1] + changed
  if finished_since then result[#result + 1] = finished_since end
end
return result
"""
# KEYS: status key, watch hash, poll stats hash. ARGV: package id, max age ms.
# The stored status when the partner's last complete poll began less than max age ago and
# the package was watched before it began (so that poll read it): {record, age ms}.
_FRESH = """
local record = redis.call('GET', KEYS[1])
if not record then return false end
local complete = tonumber(redis.call('HGET', KEYS[3], 'complete_at_ms') or '')
if not complete then return false end
local t = redis.call('TIME')
local age = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - complete
if age < 0 or age >= tonumber(ARGV[2]) then return false end
local watch = redis.call('HGET', KEYS[2], ARGV[1])
if not watch then return false end
if (tonumber(cjson.decode(watch).opened_at) or math.huge) * 1000 >= complete then return false end
return {record, string.format('%d', age)}
"""
OBSERVATIONS_PER_CALL = 500  # bounds one script's run (Redis serves nobody else meanwhile)


def progress_of(package: HasStatus) -> int | None:
    """0-100: the upstream's own progress when it gives one, else implied by the status."""
    if package.progress is not None:
        return max(0, min(100, round(package.progress)))
    return {"INITIALIZING": 0, "DONE": 100, "EXPIRED": 100}.get(package.status)


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """``{id, status, progress, seq}`` as stored and published (plus ``at``, the Redis
    clock in ms when it was written)."""

    id: str
    status: str
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
            status=str(doc["status"]),
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
    """Stores and publishes status changes; reads the last one."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._observe = redis.register_script(_OBSERVE)
        self._observe_many = redis.register_script(_OBSERVE_MANY)
        self._fresh = redis.register_script(_FRESH)

    async def observe(self, partner_id: str, observation: Observation) -> StatusRecord:
        """Report a status read upstream; returns the current record (maybe newer)."""
        _, raw = await self._observe(
            keys=self._keys(partner_id, observation.package_id), args=self._args(observation)
        )
        return StatusRecord.parse(raw)

    async def observe_many(
        self, partner_id: str, observations: Sequence[Observation], *, previous_poll_ms: int | None
    ) -> int:
        """One script call for a whole poll (per 500); returns how many were changes. Builds
        seen finishing feed the detection-lag metric: the time since each was last known
        building (its last recorded change, or the partner's previous complete poll
        ``previous_poll_ms``, the later) — an upper bound of how late the end was noticed."""
        if not observations:
            return 0
        changed = 0
        now_ms = max(observation.observed_at_ms for observation in observations)
        for start in range(0, len(observations), OBSERVATIONS_PER_CALL):
            keys: list[str] = []
            args: list[str | int] = [redis_keys.PACKAGE_STATUS_TTL_S * 1000]
            for observation in observations[start : start + OBSERVATIONS_PER_CALL]:
                keys += self._keys(partner_id, observation.package_id)
                args += [*self._args(observation)[:3], observation.observed_at_ms]
            count, *building_since = await self._observe_many(keys=keys, args=args)
            changed += int(count)
            for since in building_since:
                seen_building = max(previous_poll_ms or 0, int(since))
                observe_detection_lag(max(0, now_ms - seen_building) / 1000)
        return changed

    async def fresh(
        self, partner_id: str, package_id: str, max_age_ms: int
    ) -> tuple[StatusRecord, int] | None:
        """The stored status and its age (ms) when a poll read it less than ``max_age_ms``
        ago, else None. Keyed by partner: only the partner's own watches can answer."""
        found = await self._fresh(
            keys=[
                redis_keys.package_status(partner_id, package_id),
                redis_keys.watch_set(partner_id),
                redis_keys.watch_poll_stats(partner_id),
            ],
            args=[package_id, max_age_ms],
        )
        if not found:
            return None
        raw, age = found
        return StatusRecord.parse(raw), int(age)

    async def get(self, partner_id: str, package_id: str) -> StatusRecord | None:
        raw = await self._redis.get(redis_keys.package_status(partner_id, package_id))
        return StatusRecord.parse(raw) if raw else None

    @staticmethod
    def _keys(partner_id: str, package_id: str) -> list[str]:
        return [
            redis_keys.package_status(partner_id, package_id),
            redis_keys.status_channel(partner_id, package_id),
        ]

    @staticmethod
    def _args(observation: Observation) -> list[str | int]:
        head = json.dumps(
            {"id": observation.package_id, "status": observation.status, "progress": observation.progress},
            separators=(",", ":"),
        )[:-1]
        progress = "" if observation.progress is None else str(observation.progress)
        return [
            observation.status,
            progress,
            head,
            redis_keys.PACKAGE_STATUS_TTL_S * 1000,
            observation.observed_at_ms,
        ]

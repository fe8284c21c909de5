"""The last known status of each package and its change feed (Redis pub/sub).

Whoever reads a status upstream (the worker's poll, an SSE stream opening) reports
it here; a change gets the next sequence number, is stored and is published, all
in one script, so numbers only increase and subscribers see them in order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.activity.emit import LoggedStatus
from app.activity.log import APPEND_LUA, ISO_DATE_LUA, ActivityLog
from app.kit import redis_keys
from app.listing.rows import HasStatus, progress_of
from app.observability.metrics import observe_detection_lag
from app.upstream.models import TERMINAL_STATUSES, PackageStatus, known_status

# The rules of one observation, shared by both scripts. KEYS: the partner's activity log and
# the set of events owed to the webhooks (declared, as every key a script touches must be),
# then the status keys. ARGV: ttl ms, observation start (ms), the partner's status key prefix
# and channel prefix, then the partner id, its activity log's stream (again; '' = no log),
# channel, retention ms and max entries;
# ``observe(key, id, status, progress)`` (progress '' = unknown) writes and publishes a
# change, and appends it to the activity log as a ``package.status`` event (``APPEND_LUA``):
# decided here, so logged exactly once per change. Stale reads of concurrent observers
# are ignored: a read that began before the stored status was written, and a build going
# back (unless it had ended: a rebuild starts over). The channel is not a key: it is named
# from the key (``redis_keys.status_channel``), so only the keys travel per observation.
_OBSERVE_RULES = (
    APPEND_LUA
    + ISO_DATE_LUA
    + """
local ranks = {INITIALIZING = 0, INPROGRESS = 1}
local function rank(status) return ranks[status] or 2 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, start = ARGV[1], tonumber(ARGV[2])
local key_prefix_length, channel_prefix = string.len(ARGV[3]), ARGV[4]
local partner, log_channel, retention, max_entries = ARGV[5], ARGV[7], ARGV[8], ARGV[9]
local log_stream, owed = '', KEYS[2]
if ARGV[6] ~= '' then log_stream = KEYS[1] end
-- The change as a package.status event in the partner's activity log, owed to the webhooks
-- until dispatched: {event key, body, its member of the owed set}.
local function log_change(id, status, progress_json, seq)
  if log_stream == '' then return nil end
  local event_key = partner .. ':' .. id .. ':status:' .. string.format('%d', seq) .. ':'
    .. string.format('%d', now)
  local body = '{"type":"package.status","timestamp":"' .. iso(now) .. '","data":{"package_id":'
    .. cjson.encode(id) .. ',"partner_id":' .. cjson.encode(partner) .. ',"status":' .. cjson.encode(status)
    .. ',"progress":' .. progress_json .. ',"seq":' .. string.format('%d', seq) .. '}}'
  local msg_id = 'msg_' .. string.sub(redis.sha1hex(event_key), 1, 32)
  local entry = append_event(log_stream, log_channel, msg_id, 'package.status', id, body, max_entries)
  local member = cjson.encode({entry, partner, event_key})
  redis.call('ZADD', owed, now, member)
  return {event_key, body, member}
end
-- Returns 1 and the new record for a change, else 0 and the stored one; then, for a build
-- seen finishing, when it was last recorded building; then the logged event.
local function observe(key, id, status, progress_arg)
  local current = redis.call('GET', key)
  local seq = 0
  local finished_since = nil
  if current then
    local doc = cjson.decode(current)
    seq = tonumber(doc.seq) or 0
    local progress = ''
    if type(doc.progress) == 'number' then progress = string.format('%d', doc.progress) end
    if doc.status == status and progress == progress_arg then return 0, current end
    if (tonumber(doc.at) or 0) >= start then return 0, current end
    local old, new = rank(doc.status), rank(status)
    if old < 2 then
      if new < old then return 0, current end
      if new == old and progress_arg ~= '' and progress ~= ''
         and tonumber(progress_arg) < tonumber(progress) then return 0, current end
      if new == 2 then finished_since = tonumber(doc.at) or 0 end
    end
  end
  seq = seq + 1
  local progress_json = progress_arg
  if progress_json == '' then progress_json = 'null' end
  local record = '{"id":' .. cjson.encode(id) .. ',"status":' .. cjson.encode(status)
    .. ',"progress":' .. progress_json .. ',"seq":' .. string.format('%d', seq)
    .. ',"at":' .. string.format('%d', now) .. '}'
  redis.call('SET', key, record, 'PX', ttl)
  redis.call('PUBLISH', channel_prefix .. string.sub(key, key_prefix_length + 1), record)
  return 1, record, finished_since, log_change(id, status, progress_json, seq)
end
"""
)
# KEYS: the two above, then the status key. ARGV: the nine above, then package id, status,
# progress. Returns {1 for
# a change else 0, the current record, then the logged event's key, body and owed member}.
_OBSERVE = (
    _OBSERVE_RULES
    + """
local changed, record, _, logged = observe(KEYS[3], ARGV[10], ARGV[11], ARGV[12])
settle_appends(retention, now)
local result = {changed, record}
if logged then result[3] = logged[1]; result[4] = logged[2]; result[5] = logged[3] end
return result
"""
)
# A whole poll in one call. KEYS: the two above, then a status key per observation. ARGV:
# the nine above, then
# (package id, status, progress) per observation. Returns {changes, for each build seen
# finishing when it was last recorded building, then key, body and owed member of each
# logged event}.
_OBSERVE_MANY = (
    _OBSERVE_RULES
    + """
local changes, since, logged = 0, {}, {}
for i = 3, #KEYS do
  local a = 9 + (i - 3) * 3
  local changed, _, finished_since, event = observe(KEYS[i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
  changes = changes + changed
  if finished_since then since[#since + 1] = finished_since end
  if event then for _, part in ipairs(event) do logged[#logged + 1] = part end end
end
settle_appends(retention, now)
return {changes, since, logged}
"""
)


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


Announce = Callable[[str, Sequence[LoggedStatus]], Awaitable[None]]


class StatusStore:
    """Stores and publishes status changes; reads the last one. With ``log``, each change is
    also a ``package.status`` event in the partner's activity log, handed to ``announce``
    (the webhooks: ``app.activity.emit.StatusAnnouncer``)."""

    def __init__(
        self, redis: Redis, log: ActivityLog | None = None, announce: Announce | None = None
    ) -> None:
        self._redis = redis
        self._log = log
        self._announce = announce
        self._observe = redis.register_script(_OBSERVE)
        self._observe_many = redis.register_script(_OBSERVE_MANY)
        self._fresh = redis.register_script(_FRESH)

    async def observe(self, partner_id: str, observation: Observation) -> StatusRecord:
        """Report a status read upstream; returns the current record (maybe newer)."""
        _, raw, *logged = await self._observe(
            keys=[*self._log_keys(partner_id), redis_keys.package_status(partner_id, observation.package_id)],
            args=[
                *self._common_args(partner_id, observation.observed_at_ms),
                observation.package_id,
                observation.status,
                _progress_arg(observation.progress),
            ],
        )
        await self._announce_logged(partner_id, logged)
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
        key_prefix = redis_keys.package_status_prefix(partner_id)
        for start in range(0, len(packages), OBSERVATIONS_PER_CALL):
            keys: list[str] = self._log_keys(partner_id)
            args: list[str | int] = list(common)
            for package in packages[start : start + OBSERVATIONS_PER_CALL]:
                keys.append(key_prefix + redis_keys.key_part(package.id))
                args += (package.id, package.status, _progress_arg(progress_of(package)))
            count, building_since, logged = await self._observe_many(keys=keys, args=args)
            changed += int(count)
            for since in building_since:
                seen_building = max(previous_poll_ms or 0, int(since))
                observe_detection_lag(max(0, observed_at_ms - seen_building) / 1000)
            await self._announce_logged(partner_id, logged)
        return changed

    async def _announce_logged(self, partner_id: str, logged: Sequence[str]) -> None:
        """Hand the changes just logged to the webhooks. The change and its log entry are
        kept whatever happens here; what is not dispatched stays owed, and the worker's
        sweep sends it (``app.activity.tasks``)."""
        if self._announce is None or not logged:
            return
        events = [LoggedStatus(*logged[i : i + 3]) for i in range(0, len(logged) - 2, 3)]
        try:
            await self._announce(partner_id, events)
        except Exception as exc:
            logger.warning("package.status webhooks of %s left to the sweep: %r", partner_id, exc)

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

    def _common_args(self, partner_id: str, observed_at_ms: int) -> list[str | int]:
        log_args = self._log.append_args(partner_id) if self._log is not None else ["", "", 0, 0]
        return [
            redis_keys.PACKAGE_STATUS_TTL_S * 1000,
            observed_at_ms,
            redis_keys.package_status_prefix(partner_id),
            redis_keys.status_channel_prefix(partner_id),
            partner_id,
            *log_args,
        ]

    @staticmethod
    def _log_keys(partner_id: str) -> list[str]:
        """The keys every status script declares before the status keys (touched only with a
        log): the partner's activity log and the set of events owed to the webhooks."""
        return [redis_keys.activity_log(partner_id), redis_keys.ACTIVITY_STATUS_OWED]


def _progress_arg(progress: int | None) -> str:
    return "" if progress is None else str(progress)

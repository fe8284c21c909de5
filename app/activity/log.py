"""The per-partner activity log: a Redis Stream of every event the service emits.

Why a stream: appends get ids from the Redis clock that only grow (``ms-seq``), so "the
entries after id X" is a cursor that never skips or repeats one, even while appending; a
range read from an id costs O(log N + page) whatever the log's length; trimming by age is
``XTRIM MINID``. Each append (one Lua call) also trims what is older than the retention,
keeps the key alive for the retention (an idle partner's log expires whole) and publishes
the entry on the partner's channel, so every open live stream of a process is fed by the
process's one subscription, with no read of its own. The message carries the previous
entry's id: a stream that did not send that one knows it missed something and re-reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.activity.positions import Position
from app.kit import redis_keys
from app.kit.settings import Settings

# ``append_event(stream, channel, msg_id, type, package, body, max entries)`` → the new
# entry's id; ``settle_appends(retention ms, now ms)`` once at the end of the script trims
# what is older than the retention and renews the TTL of each stream appended to (once per
# call, not per entry: a poll may log hundreds of changes). Shared with the status scripts
# (``app/builds/statuses.py``), which append ``package.status`` in the call that records the
# change. The newest id is looked up once per stream and call, then carried along.
APPEND_LUA = """
local appended_to = {}
local function append_event(stream, channel, msg_id, etype, pkg, body, max_entries)
  local prev = appended_to[stream]
  if not prev then
    local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
    prev = '0-0'
    if last[1] then prev = last[1][1] end
  end
  local id = redis.call('XADD', stream, 'MAXLEN', '~', max_entries, '*',
    'id', msg_id, 'type', etype, 'pkg', pkg, 'body', body)
  appended_to[stream] = id
  redis.call('PUBLISH', channel, prev .. ' ' .. id .. ' {"id":"' .. msg_id .. '","event":' .. body .. '}')
  return id
end
local function settle_appends(retention, now)
  for stream, _ in pairs(appended_to) do
    redis.call('XTRIM', stream, 'MINID', string.format('%d', now - tonumber(retention)))
    redis.call('PEXPIRE', stream, retention)
  end
end
local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# ``iso(ms)``: an event's ``timestamp`` as ``event_body`` writes it (ISO 8601 UTC, ms, ``Z``),
# for events made in Lua (days to a civil date: H. Hinnant's algorithm).
ISO_DATE_LUA = """
local function iso(ms)
  local s = math.floor(ms / 1000)
  local days, rem = math.floor(s / 86400), s % 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rem / 3600),
    math.floor(rem % 3600 / 60), rem % 60, ms % 1000)
end
"""

# KEYS: stream, seen marker. ARGV: channel, msg id, type, package, body, retention ms, max
# entries. Appends once per message id: {entry id, the body kept, 1 if appended now}.
_APPEND = (
    APPEND_LUA
    + """
local seen = redis.call('GET', KEYS[2])
if seen then
  local found = redis.call('XRANGE', KEYS[1], seen, seen)
  if found[1] then
    local f = found[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'body' then return {seen, f[i + 1], 0} end
    end
  end
  return {seen, ARGV[5], 0}
end
local id = append_event(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7])
settle_appends(ARGV[6], clock_ms())
redis.call('SET', KEYS[2], id, 'PX', ARGV[6])
return {id, ARGV[5], 1}
"""
)

# ``read_page(stream, after, limit, scan, max bytes, package, types)``: entries after
# ``after`` that match (package '' = any, types nil = any), at most ``limit`` of them and
# ``max bytes`` of bodies (the first match always, so a page moves on), looking at no more
# than ``scan`` entries. Entries are read a few at a time: a page of large events never holds
# more than one batch of them beyond the page in the script's memory. Returns {the position
# reached, 1 when the end was reached, then entry id, message id, body for each match}.
READ_LUA = """
local function read_page(stream, after, limit, scan, max_bytes, pkg, types)
  local out = {}
  local found, scanned, done, bytes, full = 0, 0, 0, 0, false
  local filtered = types ~= nil or pkg ~= ''
  while not full and scanned < scan do
    local want = math.min(scan - scanned, 64)
    if not filtered then want = math.min(want, limit - found) end
    local batch = redis.call('XRANGE', stream, '(' .. after, '+', 'COUNT', want)
    for _, entry in ipairs(batch) do
      local f = entry[2]
      local fields = {}
      for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
      if (types == nil or types[fields.type]) and (pkg == '' or pkg == fields.pkg) then
        if found > 0 and bytes + #fields.body > max_bytes then full = true; break end
        out[#out + 1] = entry[1]
        out[#out + 1] = fields.id
        out[#out + 1] = fields.body
        found, bytes = found + 1, bytes + #fields.body
      end
      scanned = scanned + 1
      after = entry[1]
      if found >= limit then full = true; break end
    end
    if not full and #batch < want then
      done = 1
      break
    end
  end
  local result = {after, done}
  for i = 1, #out do result[#result + 1] = out[i] end
  return result
end
local function types_of(first)
  if #ARGV < first then return nil end
  local types = {}
  for i = first, #ARGV do types[ARGV[i]] = true end
  return types
end
"""
# KEYS: stream. ARGV: after, limit, scan, max bytes, package, then the types wanted (none: all).
_READ = (
    READ_LUA
    + "return read_page(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), "
    + "ARGV[5], types_of(6))"
)

SCAN_PER_PAGE = 1_000  # entries one filtered page looks at, at most (bounds a script's run)


@dataclass(frozen=True, slots=True)
class Entry:
    """One logged event: where it is, its id, and the webhook body as sent."""

    position: Position
    message_id: str
    body: str

    def item_json(self) -> str:
        """The feed's and the stream's item: ``{"id", "event"}``, ``event`` byte for byte the
        webhook's body."""
        return f'{{"id":"{self.message_id}","event":{self.body}}}'


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    reached: Position  # where the next page starts (the last entry looked at, matching or not)
    done: bool  # the end of the log was reached: nothing more for now


@dataclass(frozen=True, slots=True)
class Filters:
    event_types: tuple[str, ...] = ()
    package_id: str = ""

    @property
    def any(self) -> bool:
        return bool(self.event_types or self.package_id)

    def args(self) -> list[str]:
        return [self.package_id, *self.event_types]

    def scan(self, limit: int) -> int:
        """Entries a page may look at: the page itself, or ``SCAN_PER_PAGE`` when filtered."""
        return SCAN_PER_PAGE if self.any else limit


def page_of(raw: Sequence[str]) -> Page:
    reached, done, *rest = raw
    entries = [Entry(Position.parse(rest[i]), rest[i + 1], rest[i + 2]) for i in range(0, len(rest) - 2, 3)]
    return Page(entries, Position.parse(reached), str(done) == "1")


@dataclass(frozen=True, slots=True)
class OwedStatus:
    member: str  # as stored in the owed set
    entry_id: str
    partner_id: str
    event_key: str


@dataclass(frozen=True, slots=True)
class Appended:
    position: Position
    body: str  # the body kept: the first one appended for this message id
    new: bool


class ActivityLog:
    """Appends to and reads the partners' logs; one per process (scripts registered once)."""

    def __init__(
        self, redis: Redis, *, retention_s: int, max_events: int, page_max_bytes: int = 1024 * 1024
    ) -> None:
        self._redis = redis
        self.retention_ms = retention_s * 1000
        self.max_events = max_events
        self.page_max_bytes = page_max_bytes
        self._append = redis.register_script(_APPEND)
        self._read = redis.register_script(_READ)

    @classmethod
    def of(cls, redis: Redis, settings: Settings) -> ActivityLog:
        return cls(
            redis,
            retention_s=settings.activity_retention_s,
            max_events=settings.activity_max_events,
            page_max_bytes=settings.activity_page_max_bytes,
        )

    async def append(
        self, partner_id: str, message_id: str, event_type: str, package_id: str | None, body: str
    ) -> Appended:
        """Append an event once per ``message_id`` (a retried dispatch finds the first body
        and appends nothing)."""
        entry_id, kept, new = await self._append(
            keys=[redis_keys.activity_log(partner_id), redis_keys.activity_seen(partner_id, message_id)],
            args=[
                redis_keys.activity_channel(partner_id),
                message_id,
                event_type,
                package_id or "",
                body,
                self.retention_ms,
                self.max_events,
            ],
        )
        return Appended(Position.parse(entry_id), kept, int(new) == 1)

    def append_args(self, partner_id: str) -> list[str | int]:
        """What a script using ``APPEND_LUA`` for this partner needs: stream, channel,
        retention ms, max entries."""
        return [
            redis_keys.activity_log(partner_id),
            redis_keys.activity_channel(partner_id),
            self.retention_ms,
            self.max_events,
        ]

    async def read(self, partner_id: str, after: Position, limit: int, filters: Filters = Filters()) -> Page:
        """At most ``limit`` matching entries after ``after``, oldest first, and at most
        ``page_max_bytes`` of them (one entry at least). Unfiltered, range reads of the page;
        filtered, at most ``SCAN_PER_PAGE`` entries looked at. A page cut short by either
        bound is not ``done``: the next one goes on where it stopped."""
        raw = await self._read(
            keys=[redis_keys.activity_log(partner_id)],
            args=[str(after), limit, filters.scan(limit), self.page_max_bytes, *filters.args()],
        )
        return page_of(raw)

    async def owed_statuses(self, *, older_than_ms: int, limit: int) -> list[OwedStatus]:
        """``package.status`` events logged more than ``older_than_ms`` ago and still owed to
        the webhooks (their process died before dispatching them)."""
        seconds, micros = await self._redis.time()
        before = int(seconds) * 1000 + int(micros) // 1000 - older_than_ms
        members = await self._redis.zrangebyscore(
            redis_keys.ACTIVITY_STATUS_OWED, "-inf", before, start=0, num=limit
        )
        owed = []
        for member in members:
            entry_id, partner_id, event_key = json.loads(member)
            owed.append(OwedStatus(member, str(entry_id), str(partner_id), str(event_key)))
        return owed

    async def bodies(self, partner_id: str, entry_ids: Sequence[str]) -> list[str | None]:
        """The body of each entry (None: trimmed since), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.xrange(redis_keys.activity_log(partner_id), entry_id, entry_id)
            found = await pipe.execute()
        return [entries[0][1].get("body") if entries else None for entries in found]

    async def settle_owed(self, members: Sequence[str]) -> None:
        """These ``package.status`` events went to the webhooks (or had nowhere to go)."""
        if members:
            await self._redis.zrem(redis_keys.ACTIVITY_STATUS_OWED, *members)

    async def last(self, partner_id: str) -> Position:
        """The newest entry's position ("now"); the start when the log is empty."""
        newest = await self._redis.xrevrange(redis_keys.activity_log(partner_id), count=1)
        return Position.parse(newest[0][0]) if newest else Position(0, 0)

-- include: kit/lua/clock.lua
-- The first step of a claim (``PollSchedule.claim``): takes the partner's turn. Due: its next
-- poll moves one interval on and 1 is returned, so no other worker takes the same turn; the
-- caller then takes the poll lock (take_poll_lock.lua) and, when that is held, looks again
-- sooner (retry_poll.lua). Not scheduled or not due yet: 0. KEYS: the partner's schedule shard.
local partners_key = KEYS[1]
local partner, interval_s = ARGV[1], tonumber(ARGV[2])

local due = redis.call('ZSCORE', partners_key, partner)
if not due then return 0 end
local now = now_seconds()
if tonumber(due) > now then return 0 end
redis.call('ZADD', partners_key, 'XX', string.format('%.6f', now + interval_s), partner)
return 1

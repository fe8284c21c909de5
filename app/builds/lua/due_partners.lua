-- include: kit/lua/clock.lua
-- The partners of one schedule shard due for a poll now (at most ``limit``, after skipping
-- ``offset``). Returns {due partners, the shard's earliest due time ('' when nobody is
-- scheduled), now}, times in seconds of the Redis clock (of the shard's node).
local partners_key = KEYS[1]
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])

local now = now_seconds()
local due = redis.call('ZRANGEBYSCORE', partners_key, '-inf', string.format('%.6f', now), 'LIMIT', offset, limit)
local first = redis.call('ZRANGE', partners_key, 0, 0, 'WITHSCORES')
return {due, first[2] or '', string.format('%.6f', now)}

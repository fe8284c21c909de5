-- include: kit/lua/clock.lua
-- The partners due for a poll now (at most ``limit``). Returns {due partners, the earliest
-- due time ('' when nobody is scheduled), now}, times in seconds of the Redis clock.
local partners_key = KEYS[1]
local limit = tonumber(ARGV[1])

local now = now_seconds()
local due = redis.call('ZRANGEBYSCORE', partners_key, '-inf', string.format('%.6f', now), 'LIMIT', 0, limit)
local first = redis.call('ZRANGE', partners_key, 0, 0, 'WITHSCORES')
return {due, first[2] or '', string.format('%.6f', now)}

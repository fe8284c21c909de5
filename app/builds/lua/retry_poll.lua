-- include: kit/lua/clock.lua
-- A turn whose poll lock was held (a poll outlived its interval, or its worker died): the
-- partner is due again ``retry_s`` from now, so that a slow poll is followed as soon as it
-- ends rather than an interval later. Only a scheduled partner (XX): one that left the
-- schedule meanwhile stays out. KEYS: the partner's schedule shard.
local partners_key = KEYS[1]
local partner, retry_s = ARGV[1], tonumber(ARGV[2])

redis.call('ZADD', partners_key, 'XX', string.format('%.6f', now_seconds() + retry_s), partner)
return 0

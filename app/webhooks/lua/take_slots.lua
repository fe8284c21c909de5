-- include: kit/lua/clock.lua
-- Leases the first of the offered tokens while fewer than ``limit`` are live (the Redis
-- clock, so every worker agrees when a lease lapses). ARGV: limit, lease ms, then the tokens.
-- Returns how many were granted.
local leases_key = KEYS[1]
local limit, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local first_token = 3

local now = now_ms()
redis.call('ZREMRANGEBYSCORE', leases_key, '-inf', now)
local offered = #ARGV - first_token + 1
local granted = math.min(limit - redis.call('ZCARD', leases_key), offered)
for i = 1, granted do
  redis.call('ZADD', leases_key, now + lease_ms, ARGV[first_token + i - 1])
end
if granted > 0 then redis.call('PEXPIRE', leases_key, lease_ms) end
return math.max(granted, 0)

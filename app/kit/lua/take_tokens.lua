-- include: kit/lua/clock.lua
-- Takes up to ``want`` tokens of a token bucket refilled at ``rate`` a second up to ``burst``.
-- Returns {tokens granted (0 = refused), tokens left (floor), wait ms when refused}.
local bucket_key = KEYS[1]
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local now = now_seconds()
local state = redis.call('HMGET', bucket_key, 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted, wait = math.min(want, math.floor(tokens)), 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', bucket_key, 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', bucket_key, math.ceil(burst / rate * 1000) + 1000)
return {granted, math.floor(tokens), wait}

-- include: kit/lua/clock.lua
-- Due and the lock free: take it and move the due time one interval on. Due but locked (a
-- poll outlived its interval, or its worker died): look again ``retry_s`` later, so that a
-- slow poll is followed as soon as it ends rather than an interval later. With
-- ``take_back`` '1' the holder may take back a lock of its own. Returns 1 when claimed.
local partners_key, lock_key = KEYS[1], KEYS[2]
local partner, holder, lease_ms, interval_s, retry_s, take_back =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]

local due = redis.call('ZSCORE', partners_key, partner)
if not due then return 0 end
local now = now_seconds()
if tonumber(due) > now then return 0 end
local current = redis.call('GET', lock_key)
if current and not (current == holder and take_back == '1') then
  redis.call('ZADD', partners_key, 'XX', string.format('%.6f', now + retry_s), partner)
  return 0
end
redis.call('SET', lock_key, holder, 'PX', lease_ms)
redis.call('ZADD', partners_key, 'XX', string.format('%.6f', now + interval_s), partner)
return 1

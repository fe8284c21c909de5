-- Moves a consumer to a position ('now': the newest entry). Returns the position stored, or
-- false when a new consumer would pass the cap.
local stream_key, consumers_key = KEYS[1], KEYS[2]
local consumer, position, max_consumers, retention_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]

if position == 'now' then
  local newest = redis.call('XREVRANGE', stream_key, '+', '-', 'COUNT', 1)
  position = '0-0'
  if newest[1] then position = newest[1][1] end
end
if redis.call('HEXISTS', consumers_key, consumer) == 0 and redis.call('HLEN', consumers_key) >= max_consumers then
  return false
end
redis.call('HSET', consumers_key, consumer, position)
redis.call('PEXPIRE', consumers_key, retention_ms)
return position

-- Compare-and-set of a delivery: applies its new fields (and logs an attempt) only while it
-- is still pending at ``round`` / ``attempt``. ARGV: round, attempt, ttl s, attempt JSON ('':
-- none), attempts kept, then field/value pairs. Its pending entry is the caller's next call
-- (another slot on a cluster). Returns the due time the delivery had ('' if none), or false
-- when nothing was applied.
local delivery_key, attempts_key = KEYS[1], KEYS[2]
local round, attempt, ttl_s, attempt_json, attempts_kept =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local first_field = 6

local current = redis.call('HMGET', delivery_key, 'round', 'next_attempt', 'status', 'next_attempt_at')
if current[1] ~= round or current[2] ~= attempt or current[3] ~= 'pending' then return false end
redis.call('HSET', delivery_key, unpack(ARGV, first_field))
redis.call('EXPIRE', delivery_key, ttl_s)
if attempt_json ~= '' then
  redis.call('HINCRBY', delivery_key, 'attempt_count', 1)
  redis.call('RPUSH', attempts_key, attempt_json)
  redis.call('LTRIM', attempts_key, -attempts_kept, -1)
  redis.call('EXPIRE', attempts_key, ttl_s)
end
return current[4] or ''

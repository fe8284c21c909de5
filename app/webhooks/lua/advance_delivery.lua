-- Compare-and-set of a delivery: applies its new fields (and logs an attempt) only while it
-- is still pending at ``round`` / ``attempt``. ARGV: round, attempt, ttl s, attempt JSON ('':
-- none), pending member, pending score ('': done, leaves the pending set), attempts kept, then
-- field/value pairs. Returns 1 when applied.
local delivery_key, attempts_key, pending_key = KEYS[1], KEYS[2], KEYS[3]
local round, attempt, ttl_s, attempt_json, pending_member, pending_score, attempts_kept =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local first_field = 8

local current = redis.call('HMGET', delivery_key, 'round', 'next_attempt', 'status')
if current[1] ~= round or current[2] ~= attempt or current[3] ~= 'pending' then return 0 end
redis.call('HSET', delivery_key, unpack(ARGV, first_field))
redis.call('EXPIRE', delivery_key, ttl_s)
if attempt_json ~= '' then
  redis.call('HINCRBY', delivery_key, 'attempt_count', 1)
  redis.call('RPUSH', attempts_key, attempt_json)
  redis.call('LTRIM', attempts_key, -attempts_kept, -1)
  redis.call('EXPIRE', attempts_key, ttl_s)
end
if pending_score == '' then
  redis.call('ZREM', pending_key, pending_member)
else
  redis.call('ZADD', pending_key, pending_score, pending_member)
end
return 1

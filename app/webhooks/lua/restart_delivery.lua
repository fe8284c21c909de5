-- Redelivery: a new round from attempt 1, due now; the caller marked it pending just before
-- (another slot on a cluster). Returns the new round, or 0 when the delivery is gone.
local delivery_key = KEYS[1]
local now, ttl_s = ARGV[1], ARGV[2]

if redis.call('EXISTS', delivery_key) == 0 then return 0 end
local round = redis.call('HINCRBY', delivery_key, 'round', 1)
redis.call('HSET', delivery_key, 'status', 'pending', 'next_attempt', '1', 'next_attempt_at', now,
           'updated_at', now)
redis.call('HDEL', delivery_key, 'failure_reason')
redis.call('EXPIRE', delivery_key, ttl_s)
return round

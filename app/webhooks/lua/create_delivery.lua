-- Creates a delivery once (same endpoint and event: nothing) and indexes it under its
-- endpoint (the newest ``per_endpoint`` kept); the caller marked it pending just before
-- (another slot on a cluster). ARGV: ttl s, created at, delivery id, per endpoint, then the
-- delivery's field/value pairs. Returns 1 when created.
local delivery_key, endpoint_index_key = KEYS[1], KEYS[2]
local ttl_s, created_at, delivery_id, per_endpoint = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local first_field = 5

if redis.call('EXISTS', delivery_key) == 1 then return 0 end
redis.call('HSET', delivery_key, unpack(ARGV, first_field))
redis.call('EXPIRE', delivery_key, ttl_s)
redis.call('ZADD', endpoint_index_key, created_at, delivery_id)
redis.call('ZREMRANGEBYRANK', endpoint_index_key, 0, -per_endpoint - 1)
redis.call('EXPIRE', endpoint_index_key, ttl_s)
return 1

-- Creates a delivery once (same endpoint and event: nothing), indexes it under its endpoint
-- (the newest ``per_endpoint`` kept) and makes it pending. ARGV: ttl s, created at, due at,
-- pending member, delivery id, per endpoint, then the delivery's field/value pairs.
-- Returns 1 when created.
local delivery_key, endpoint_index_key, pending_key = KEYS[1], KEYS[2], KEYS[3]
local ttl_s, created_at, due_at, pending_member, delivery_id, per_endpoint =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local first_field = 7

if redis.call('EXISTS', delivery_key) == 1 then return 0 end
redis.call('HSET', delivery_key, unpack(ARGV, first_field))
redis.call('EXPIRE', delivery_key, ttl_s)
redis.call('ZADD', endpoint_index_key, created_at, delivery_id)
redis.call('ZREMRANGEBYRANK', endpoint_index_key, 0, -per_endpoint - 1)
redis.call('EXPIRE', endpoint_index_key, ttl_s)
redis.call('ZADD', pending_key, due_at, pending_member)
return 1

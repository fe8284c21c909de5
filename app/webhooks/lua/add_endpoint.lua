-- Stores a new endpoint and indexes it under its partner, unless the partner has ``limit``
-- others already (checked and written at once: concurrent adds never pass the limit).
-- ARGV: endpoint id, limit, then the endpoint's field/value pairs. Returns 1 when stored.
local endpoint_key, index_key = KEYS[1], KEYS[2]
local endpoint_id, limit = ARGV[1], tonumber(ARGV[2])
local first_field = 3

if redis.call('SISMEMBER', index_key, endpoint_id) == 0
   and redis.call('SCARD', index_key) >= limit then return 0 end
redis.call('HSET', endpoint_key, unpack(ARGV, first_field))
redis.call('SADD', index_key, endpoint_id)
return 1

-- Deletes an endpoint, its id in its partner's index and its deliveries' index at once (an id
-- left in the index would count against the partner's limit). Returns 1 when it existed.
local endpoint_key, index_key, deliveries_key = KEYS[1], KEYS[2], KEYS[3]
local endpoint_id = ARGV[1]

local deleted = redis.call('DEL', endpoint_key)
redis.call('SREM', index_key, endpoint_id)
redis.call('DEL', deliveries_key)
return deleted

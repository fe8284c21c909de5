-- Sets and deletes fields of an endpoint that exists (a deleted endpoint is never brought
-- back by a late write). ARGV: how many field/value items follow, those items, then the
-- fields to delete. Returns 1, or 0 when the endpoint does not exist.
local endpoint_key = KEYS[1]
local pair_items = tonumber(ARGV[1])
local first_pair, last_pair = 2, 1 + pair_items
local first_removed = last_pair + 1

if redis.call('EXISTS', endpoint_key) == 0 then return 0 end
if pair_items > 0 then redis.call('HSET', endpoint_key, unpack(ARGV, first_pair, last_pair)) end
if #ARGV >= first_removed then redis.call('HDEL', endpoint_key, unpack(ARGV, first_removed)) end
return 1

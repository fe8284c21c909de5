-- Records the package made from a draft; the first package id stays. Returns 1 when
-- recorded, 0 when one was already, -1 when the draft is gone.
local draft_key, index_key = KEYS[1], KEYS[2]
local package_id, now, ttl_s, draft_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('EXISTS', draft_key) == 0 then return -1 end
if redis.call('HEXISTS', draft_key, 'package_id') == 1 then return 0 end
redis.call('HSET', draft_key, 'package_id', package_id, 'updated_at', now)
redis.call('HINCRBY', draft_key, 'version', 1)
redis.call('EXPIRE', draft_key, ttl_s)
redis.call('ZADD', index_key, now, draft_id)
redis.call('EXPIRE', index_key, ttl_s)
return 1

-- Keeps a cache entry only while its generation is the one its fill began under: a fill
-- that began before an invalidation never writes its stale answer. Returns 1 when written.
local entry_key, generation_key = KEYS[1], KEYS[2]
local generation, value, ttl_s = ARGV[1], ARGV[2], ARGV[3]

if (redis.call('GET', generation_key) or '0') ~= generation then return 0 end
redis.call('SET', entry_key, value, 'EX', ttl_s)
return 1

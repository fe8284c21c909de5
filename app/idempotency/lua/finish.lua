-- include: kit/lua/lock.lua
-- The first answer wins (NX) and is counted in this hour's bucket; only our own in-flight
-- marker is removed. An empty answer stores nothing. Returns 1.
local answer_key, in_flight_key, bucket_key = KEYS[1], KEYS[2], KEYS[3]
local marker, answer, ttl_s, bucket_ttl_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if answer ~= '' and redis.call('SET', answer_key, answer, 'NX', 'EX', ttl_s) then
  redis.call('INCRBY', bucket_key, #answer)
  redis.call('EXPIRE', bucket_key, bucket_ttl_s)
end
release_lock(in_flight_key, marker)
return 1

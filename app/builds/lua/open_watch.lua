-- Opens a watch (idempotent) and schedules its partner. Mode 'new' starts a new build
-- generation and replaces any watch of the previous build; 'keep' keeps an open watch.
-- Returns the watch's generation.
local watches_key, partners_key, generation_key = KEYS[1], KEYS[2], KEYS[3]
local package_id, partner_id, reason, opened_at, mode, generation_ttl_ms =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]

local generation
if mode == 'new' then
  generation = redis.call('INCR', generation_key)
  redis.call('PEXPIRE', generation_key, generation_ttl_ms)
else
  generation = tonumber(redis.call('GET', generation_key) or '0')
end
local watch = cjson.encode({package_id = package_id, partner_id = partner_id, reason = reason,
  opened_at = opened_at, generation = string.format('%d', generation), misses = 0})
if mode == 'new' then
  redis.call('HSET', watches_key, package_id, watch)
else
  redis.call('HSETNX', watches_key, package_id, watch)
end
redis.call('ZADD', partners_key, 'NX', 0, partner_id)
return string.format('%d', generation)

-- Opens a watch (idempotent). Mode 'new' starts a new build generation and replaces any
-- watch of the previous build; 'keep' keeps an open watch. The partner joins the poll
-- schedule in calls of its own, before and (when it had no watch) after this one
-- (``WatchRegistry._open_watch``). Returns {the watch's generation, 1 when the partner had no
-- other watch before else 0}.
local watches_key, generation_key = KEYS[1], KEYS[2]
local package_id, partner_id, reason, opened_at, mode, generation_ttl_ms =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]

local alone = 0
if redis.call('HLEN', watches_key) == 0 then alone = 1 end
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
return {string.format('%d', generation), alone}

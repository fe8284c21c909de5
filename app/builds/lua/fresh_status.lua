-- include: kit/lua/clock.lua
-- The stored status when the partner's last complete poll began less than ``max_age_ms``
-- ago and the package was watched before it began (so that poll read it): {record, age ms};
-- else false.
local status_key, watches_key, poll_stats_key = KEYS[1], KEYS[2], KEYS[3]
local package_id, max_age_ms = ARGV[1], tonumber(ARGV[2])

local record = redis.call('GET', status_key)
if not record then return false end
local complete = tonumber(redis.call('HGET', poll_stats_key, 'complete_at_ms') or '')
if not complete then return false end
local age = now_ms() - complete
if age < 0 or age >= max_age_ms then return false end
local watch = redis.call('HGET', watches_key, package_id)
if not watch then return false end
if (tonumber(cjson.decode(watch).opened_at) or math.huge) * 1000 >= complete then return false end
return {record, string.format('%d', age)}

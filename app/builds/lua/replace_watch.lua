-- Compare-and-set of a watch: a watch replaced meanwhile (regenerate) is left alone.
-- Returns 1 when replaced.
local watches_key = KEYS[1]
local package_id, expected, replacement = ARGV[1], ARGV[2], ARGV[3]

if redis.call('HGET', watches_key, package_id) ~= expected then return 0 end
redis.call('HSET', watches_key, package_id, replacement)
return 1

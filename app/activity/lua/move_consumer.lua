-- Moves a consumer past its page if no other poll moved it since. Returns 1, else 0 (that
-- poll's page came first; read again).
local consumers_key = KEYS[1]
local consumer, started_at, moved_to, retention_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('HGET', consumers_key, consumer) ~= started_at then return 0 end
redis.call('HSET', consumers_key, consumer, moved_to)
redis.call('PEXPIRE', consumers_key, retention_ms)
return 1

-- Counts a status poll of the partner (``polls``, ``last_polled_at``, the stats' TTL) and
-- returns what its last polls learned: {list_bytes, get_bytes, complete_at_ms}, each nil when
-- unknown. KEYS: the partner's poll stats. ARGV: the poll's time (unix seconds), the TTL (s).
local stats_key = KEYS[1]
local polled_at, ttl_s = ARGV[1], ARGV[2]

redis.call('HINCRBY', stats_key, 'polls', 1)
redis.call('HSET', stats_key, 'last_polled_at', polled_at)
redis.call('EXPIRE', stats_key, ttl_s)
return redis.call('HMGET', stats_key, 'list_bytes', 'get_bytes', 'complete_at_ms')

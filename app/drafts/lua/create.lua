-- Creates a draft unless the caller already has ``cap`` of them: the cap is checked and the
-- draft written in one step, so parallel creates cannot pass it. Returns 1, or 0 at the cap.
local draft_key, index_key = KEYS[1], KEYS[2]
local cap, ttl_s, draft_id, step, state, version, created_at, updated_at =
  tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]

if redis.call('ZCARD', index_key) >= cap then return 0 end
redis.call('HSET', draft_key, 'id', draft_id, 'step', step, 'state', state, 'version', version,
           'created_at', created_at, 'updated_at', updated_at)
redis.call('EXPIRE', draft_key, ttl_s)
redis.call('ZADD', index_key, updated_at, draft_id)
redis.call('EXPIRE', index_key, ttl_s)
return 1

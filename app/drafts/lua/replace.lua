-- Replaces a draft's step and state if it is still at ``expected_version`` and not submitted.
-- Returns the new version, or -1 (no such draft), -2 (stale version), -3 (submitted).
local draft_key, index_key = KEYS[1], KEYS[2]
local expected_version, step, state, now, ttl_s, draft_id =
  tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

if redis.call('EXISTS', draft_key) == 0 then return -1 end
local version = tonumber(redis.call('HGET', draft_key, 'version'))
if version ~= expected_version then return -2 end
if redis.call('HEXISTS', draft_key, 'package_id') == 1 then return -3 end
version = version + 1
redis.call('HSET', draft_key, 'step', step, 'state', state, 'version', version, 'updated_at', now)
redis.call('EXPIRE', draft_key, ttl_s)
redis.call('ZADD', index_key, now, draft_id)
redis.call('EXPIRE', index_key, ttl_s)
return version

-- Deletes a draft if it is still at ``expected_version``. Returns 1, or -1 (no such draft),
-- -2 (stale version).
local draft_key, index_key = KEYS[1], KEYS[2]
local expected_version, draft_id = tonumber(ARGV[1]), ARGV[2]

if redis.call('EXISTS', draft_key) == 0 then return -1 end
if tonumber(redis.call('HGET', draft_key, 'version')) ~= expected_version then return -2 end
redis.call('DEL', draft_key)
redis.call('ZREM', index_key, draft_id)
return 1

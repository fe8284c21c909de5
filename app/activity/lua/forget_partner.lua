-- Removes a partner from the outbox sweep's set, unless it was marked again since the sweep
-- read its mark (a record under way). KEYS: the set. ARGV: partner id, the mark read (ms).
-- Returns 1 when removed.
local marked_key = KEYS[1]
local partner, seen_mark = ARGV[1], tonumber(ARGV[2])

if tonumber(redis.call('ZSCORE', marked_key, partner)) ~= seen_mark then return 0 end
return redis.call('ZREM', marked_key, partner)

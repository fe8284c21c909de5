-- include: kit/lua/groups.lua
-- include: listing/lua/kept_list.lua
-- Rows read after the kept ones (the BFF's own writes, statuses observed). ARGV: when the
-- read began (ms), then (id, value, search, expected value or '*') per row. Nothing when no
-- list is kept (the first read fetches it whole); a row is written when this read is not
-- older than the row's (the kept list's, or its own last write's) and the row is still the
-- one the caller changed. Returns how many rows changed.
local observed = tonumber(ARGV[1])
local FIRST_ROW, ROW_FIELDS = 2, 4

local at = tonumber(redis.call('HGET', meta_key, 'at') or '')
if not at then return 0 end
local changed = 0
for id, value, search, expected in groups(ARGV, FIRST_ROW, ROW_FIELDS) do
  local since = tonumber(redis.call('HGET', touched_key, id) or '') or at
  if observed >= since then
    local old = redis.call('HGET', rows_key, id)
    if (expected == '*' or old == expected) and old ~= value then
      place(id, old, value, search)
      redis.call('HSET', touched_key, id, observed)
      changed = changed + 1
    end
  end
end
if changed > 0 then
  redis.call('HDEL', meta_key, 'digest')
  local ttl = redis.call('PTTL', meta_key)
  if ttl > 0 then expire_all(ttl) end
end
return changed

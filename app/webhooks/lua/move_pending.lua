-- Moves entries of one key of the pending set, each only while it is still due when its
-- caller saw it (an entry marked anew meanwhile, by a redelivery, stays as it is). ARGV, three
-- per entry: member, the due time seen, the new due time ('': out of the set). An entry not
-- in the set is added when a new due time is given. Returns how many entries changed.
local pending_key = KEYS[1]
local per_entry = 3

local changed = 0
for at = 1, #ARGV, per_entry do
  local member, seen, due_at = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local current = redis.call('ZSCORE', pending_key, member)
  if not current then
    if due_at ~= '' then
      redis.call('ZADD', pending_key, due_at, member)
      changed = changed + 1
    end
  elseif tonumber(current) == tonumber(seen) then
    if due_at == '' then
      redis.call('ZREM', pending_key, member)
    else
      redis.call('ZADD', pending_key, due_at, member)
    end
    changed = changed + 1
  end
end
return changed

-- include: kit/lua/groups.lua
-- include: builds/lua/status_rules.lua
-- A whole poll in one call. KEYS: the one of ``status_context``, then a status key per
-- observation. ARGV: the seven of ``status_context``, then (package id, status, progress) per
-- observation, in the same order. Returns {changes, for each build seen finishing when it was
-- last recorded building, the number of events recorded}.
local ctx = status_context(KEYS, ARGV)
local status_keys = {unpack(KEYS, 2)}
local observations = groups(ARGV, 8, 3)

local changes, since, recorded = 0, {}, 0
for _, status_key in ipairs(status_keys) do
  local package_id, status, progress = observations()
  local changed, _, finished_since, event_key = observe(ctx, status_key, package_id, status, progress)
  changes = changes + changed
  if finished_since then since[#since + 1] = finished_since end
  if event_key then recorded = recorded + 1 end
end
return {changes, since, recorded}

-- include: kit/lua/groups.lua
-- include: builds/lua/status_rules.lua
-- A whole poll in one call. KEYS: the two of ``status_context``, then a status key per
-- observation. ARGV: the nine of ``status_context``, then (package id, status, progress) per
-- observation, in the same order. Returns {changes, for each build seen finishing when it was
-- last recorded building, then key, body and owed member of each logged event}.
local ctx = status_context(KEYS, ARGV)
local status_keys = {unpack(KEYS, 3)}
local observations = groups(ARGV, 10, 3)

local changes, since, logged = 0, {}, {}
for _, status_key in ipairs(status_keys) do
  local package_id, status, progress = observations()
  local changed, _, finished_since, event = observe(ctx, status_key, package_id, status, progress)
  changes = changes + changed
  if finished_since then since[#since + 1] = finished_since end
  if event then for _, part in ipairs(event) do logged[#logged + 1] = part end end
end
settle_appends(ctx.retention_ms, ctx.now)
return {changes, since, logged}

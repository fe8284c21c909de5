-- include: builds/lua/status_rules.lua
-- One observation. KEYS: the two of ``status_context``, then the package's status key. ARGV:
-- the nine of ``status_context``, then package id, status, progress. Returns {1 for a change
-- else 0, the current record, then the logged event's key, body and owed member}.
local ctx = status_context(KEYS, ARGV)
local status_key = KEYS[3]
local package_id, status, progress = ARGV[10], ARGV[11], ARGV[12]

local changed, record, _, logged = observe(ctx, status_key, package_id, status, progress)
settle_appends(ctx.retention_ms, ctx.now)
local result = {changed, record}
if logged then result[3] = logged[1]; result[4] = logged[2]; result[5] = logged[3] end
return result

-- include: builds/lua/status_rules.lua
-- One observation. KEYS: the one of ``status_context``, then the package's status key. ARGV:
-- the seven of ``status_context``, then package id, status, progress. Returns {1 for a change
-- else 0, the current record, then the recorded event's key, if any}.
local ctx = status_context(KEYS, ARGV)
local status_key = KEYS[2]
local package_id, status, progress = ARGV[8], ARGV[9], ARGV[10]

local changed, record, _, event_key = observe(ctx, status_key, package_id, status, progress)
local result = {changed, record}
if event_key then result[3] = event_key end
return result

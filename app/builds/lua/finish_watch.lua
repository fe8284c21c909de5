-- include: kit/lua/clock.lua
-- include: builds/lua/watch.lua
-- Marks the build's event emitted (set once; the value is the Redis clock in ms), then
-- closes the watch as close_watch.lua does: one step, so no crash can leave a marked watch
-- open. Returns {1 when this call set the marker else 0, the partner's watches left}.
local marker_key, watches_key = KEYS[1], KEYS[2]
local marker_ttl_ms, package_id, expected = ARGV[1], ARGV[2], ARGV[3]

local marked = 0
if redis.call('SET', marker_key, string.format('%d', now_ms()), 'NX', 'PX', marker_ttl_ms) then marked = 1 end
local _, left = close_watch(watches_key, package_id, expected)
return {marked, left}

-- include: builds/lua/watch.lua
-- Compare-and-delete of a watch. Returns {1 when it closed the watch else 0, the partner's
-- watches left}.
local watches_key = KEYS[1]
local package_id, expected = ARGV[1], ARGV[2]

local closed, left = close_watch(watches_key, package_id, expected)
return {closed, left}

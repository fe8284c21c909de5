-- include: builds/lua/watch.lua
-- Compare-and-delete of a watch (``expected`` '' deletes none: only drops an idle partner
-- from the schedule). Returns 1 when it closed the watch.
local watches_key, partners_key = KEYS[1], KEYS[2]
local package_id, expected, partner_id = ARGV[1], ARGV[2], ARGV[3]

return close_watch(watches_key, partners_key, package_id, expected, partner_id)

-- include: activity/lua/read_page.lua
-- A page of a partner's activity log (``read_page``). ARGV: after, limit, scan, max bytes,
-- package ('' = any), then the event types wanted (none: all).
local stream_key = KEYS[1]
local after, limit, scan, max_bytes, package_id =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local FIRST_TYPE = 6

return read_page(stream_key, after, limit, scan, max_bytes, package_id, wanted_types(ARGV, FIRST_TYPE))

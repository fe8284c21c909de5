-- include: activity/lua/read_page.lua
-- A named consumer's next page and the position it starts from, without moving the consumer
-- (move_consumer.lua does, once the page is in hand); a new consumer starts at the oldest
-- entry. Returns {the start, then ``read_page``'s reply}, or false when a new consumer would
-- pass the cap. ARGV: consumer, limit, scan, max bytes, max consumers, retention ms, package,
-- then the event types wanted.
local stream_key, consumers_key = KEYS[1], KEYS[2]
local consumer, limit, scan, max_bytes, max_consumers, retention_ms, package_id =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local FIRST_TYPE = 8

local position = redis.call('HGET', consumers_key, consumer)
if not position then
  if redis.call('HLEN', consumers_key) >= max_consumers then return false end
  position = '0-0'
  redis.call('HSET', consumers_key, consumer, position)
  redis.call('PEXPIRE', consumers_key, retention_ms)
end
local page = read_page(stream_key, position, limit, scan, max_bytes, package_id, wanted_types(ARGV, FIRST_TYPE))
table.insert(page, 1, position)
return page

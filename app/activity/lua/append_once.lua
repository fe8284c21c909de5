-- include: kit/lua/clock.lua
-- include: activity/lua/append.lua
-- Appends an event once per message id (a retried dispatch finds the first body and appends
-- nothing). Returns {entry id, the body kept, 1 if appended now}.
local stream_key, seen_key = KEYS[1], KEYS[2]
local channel, msg_id, event_type, package_id, body, retention_ms, max_entries =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local seen = redis.call('GET', seen_key)
if seen then
  local found = redis.call('XRANGE', stream_key, seen, seen)
  if found[1] then
    local f = found[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'body' then return {seen, f[i + 1], 0} end
    end
  end
  return {seen, body, 0}
end
local id = append_event(stream_key, channel, msg_id, event_type, package_id, body, max_entries)
settle_appends(retention_ms, now_ms())
redis.call('SET', seen_key, id, 'PX', retention_ms)
return {id, body, 1}

-- include: kit/lua/clock.lua
-- include: kit/lua/groups.lua
-- include: activity/lua/append.lua
-- Appends events to a partner's activity log, each once per message id (an event published
-- twice, by a retry or by the sweep, finds the body appended first and appends nothing).
-- KEYS: the log's stream, then a seen marker per event. ARGV: the log's channel, retention
-- ms, max entries, the markers' TTL ms, then (message id, type, package id, body) per event.
-- Returns, per event, its entry id, the body kept and 1 if appended now (else 0).
local stream_key = KEYS[1]
local channel, retention_ms, max_entries, seen_ttl_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function kept_body(entry_id, body)
  local found = redis.call('XRANGE', stream_key, entry_id, entry_id)
  if found[1] then
    local f = found[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'body' then return f[i + 1] end
    end
  end
  return body  -- trimmed since: what was asked is what it was
end

local seen_keys = {unpack(KEYS, 2)}
local events = groups(ARGV, 5, 4)
local result = {}
for _, seen_key in ipairs(seen_keys) do
  local msg_id, etype, pkg, body = events()
  local seen = redis.call('GET', seen_key)
  if seen then
    result[#result + 1] = seen
    result[#result + 1] = kept_body(seen, body)
    result[#result + 1] = 0
  else
    local id = append_event(stream_key, channel, msg_id, etype, pkg, body, max_entries)
    redis.call('SET', seen_key, id, 'PX', seen_ttl_ms)
    result[#result + 1] = id
    result[#result + 1] = body
    result[#result + 1] = 1
  end
end
settle_appends(retention_ms, now_ms())
return result

-- ``append_event(stream, channel, msg_id, type, package, body, max entries)`` appends an event
-- to a partner's activity log, publishes it on the partner's channel with the previous
-- entry's id (a live stream that did not send that one knows it missed something) and
-- returns the new entry's id. ``settle_appends(retention ms, now ms)``, once at the end of the
-- script, trims what is older than the retention and renews the TTL of each stream appended
-- to (once per call, not per entry: a poll may log hundreds of changes). The newest id is
-- looked up once per stream and call, then carried along.
local appended_to = {}
local function append_event(stream, channel, msg_id, etype, pkg, body, max_entries)
  local prev = appended_to[stream]
  if not prev then
    local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
    prev = '0-0'
    if last[1] then prev = last[1][1] end
  end
  local id = redis.call('XADD', stream, 'MAXLEN', '~', max_entries, '*',
    'id', msg_id, 'type', etype, 'pkg', pkg, 'body', body)
  appended_to[stream] = id
  redis.call('PUBLISH', channel, prev .. ' ' .. id .. ' {"id":"' .. msg_id .. '","event":' .. body .. '}')
  return id
end
local function settle_appends(retention, now)
  for stream, _ in pairs(appended_to) do
    redis.call('XTRIM', stream, 'MINID', string.format('%d', now - tonumber(retention)))
    redis.call('PEXPIRE', stream, retention)
  end
end

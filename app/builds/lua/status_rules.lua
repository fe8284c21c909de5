-- include: kit/lua/clock.lua
-- include: activity/lua/append.lua
-- include: activity/lua/iso_date.lua
-- The rules of one status observation, shared by observe.lua and observe_many.lua.
--
-- Every status script starts with the same keys and arguments (``status_context``): KEYS the
-- partner's activity log and the set of events owed to the webhooks (declared, as every key
-- a script touches must be); ARGV the status TTL ms, the observation's start (ms), the
-- partner's status key prefix and channel prefix, the partner id, its activity log's stream
-- again ('' = no log), the log's channel, retention ms and max entries.
--
-- ``observe(ctx, key, id, status, progress)`` (progress '' = unknown) writes and publishes a
-- change, and appends it to the activity log as a ``package.status`` event: decided here, so
-- logged exactly once per change. Stale reads of concurrent observers are ignored: a read
-- that began before the stored status was written, and a build going back (unless it had
-- ended: a rebuild starts over). The channel is not a key: it is named from the key, so only
-- the keys travel per observation.
local function status_context(keys, argv)
  local ctx = {
    owed_key = keys[2],
    ttl_ms = argv[1],
    start_ms = tonumber(argv[2]),
    key_prefix_length = string.len(argv[3]),
    channel_prefix = argv[4],
    partner = argv[5],
    log_stream = '',
    log_channel = argv[7],
    retention_ms = argv[8],
    max_entries = argv[9],
    now = now_ms(),
  }
  if argv[6] ~= '' then ctx.log_stream = keys[1] end
  return ctx
end
local ranks = {INITIALIZING = 0, INPROGRESS = 1}
local function rank(status) return ranks[status] or 2 end
-- The change as a package.status event in the partner's activity log, owed to the webhooks
-- until dispatched: {event key, body, its member of the owed set}.
local function log_change(ctx, id, status, progress_json, seq)
  if ctx.log_stream == '' then return nil end
  local now, partner = ctx.now, ctx.partner
  local event_key = partner .. ':' .. id .. ':status:' .. string.format('%d', seq) .. ':'
    .. string.format('%d', now)
  local body = '{"type":"package.status","timestamp":"' .. iso(now) .. '","data":{"package_id":'
    .. cjson.encode(id) .. ',"partner_id":' .. cjson.encode(partner) .. ',"status":' .. cjson.encode(status)
    .. ',"progress":' .. progress_json .. ',"seq":' .. string.format('%d', seq) .. '}}'
  local msg_id = 'msg_' .. string.sub(redis.sha1hex(event_key), 1, 32)
  local entry = append_event(ctx.log_stream, ctx.log_channel, msg_id, 'package.status', id, body, ctx.max_entries)
  local member = cjson.encode({entry, partner, event_key})
  redis.call('ZADD', ctx.owed_key, now, member)
  return {event_key, body, member}
end
-- Returns 1 and the new record for a change, else 0 and the stored one; then, for a build
-- seen finishing, when it was last recorded building; then the logged event.
local function observe(ctx, key, id, status, progress_arg)
  local current = redis.call('GET', key)
  local seq = 0
  local finished_since = nil
  if current then
    local doc = cjson.decode(current)
    seq = tonumber(doc.seq) or 0
    local progress = ''
    if type(doc.progress) == 'number' then progress = string.format('%d', doc.progress) end
    if doc.status == status and progress == progress_arg then return 0, current end
    if (tonumber(doc.at) or 0) >= ctx.start_ms then return 0, current end
    local old, new = rank(doc.status), rank(status)
    if old < 2 then
      if new < old then return 0, current end
      if new == old and progress_arg ~= '' and progress ~= ''
         and tonumber(progress_arg) < tonumber(progress) then return 0, current end
      if new == 2 then finished_since = tonumber(doc.at) or 0 end
    end
  end
  seq = seq + 1
  local progress_json = progress_arg
  if progress_json == '' then progress_json = 'null' end
  local record = '{"id":' .. cjson.encode(id) .. ',"status":' .. cjson.encode(status)
    .. ',"progress":' .. progress_json .. ',"seq":' .. string.format('%d', seq)
    .. ',"at":' .. string.format('%d', ctx.now) .. '}'
  redis.call('SET', key, record, 'PX', ctx.ttl_ms)
  redis.call('PUBLISH', ctx.channel_prefix .. string.sub(key, ctx.key_prefix_length + 1), record)
  return 1, record, finished_since, log_change(ctx, id, status, progress_json, seq)
end

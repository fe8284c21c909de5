-- include: kit/lua/clock.lua
-- include: activity/lua/outbox.lua
-- The rules of one status observation, shared by observe.lua and observe_many.lua.
--
-- Every status script starts with the same keys and arguments (``status_context``): KEYS the
-- partner's outbox (declared, as every key a script touches must be); ARGV the status TTL ms,
-- the observation's start (ms), the partner's status key prefix and channel prefix, the
-- partner id, '1' to record changes as ``package.status`` events ('' = not), the outbox's TTL.
--
-- ``observe(ctx, key, id, status, progress)`` (progress '' = unknown) writes and publishes a
-- change, and records it in the partner's outbox as a ``package.status`` event: decided here,
-- so recorded exactly once per change (``Outbox.publish`` logs it and hands it to the
-- webhooks). Stale reads of concurrent observers are ignored: a read that began before the
-- stored status was written, and a build going back (unless it had ended: a rebuild starts
-- over). The channel is not a key: it is named from the key, so only the keys travel per
-- observation.
local function status_context(keys, argv)
  return {
    outbox = keys[1],
    ttl_ms = argv[1],
    start_ms = tonumber(argv[2]),
    key_prefix_length = string.len(argv[3]),
    channel_prefix = argv[4],
    partner = argv[5],
    record = argv[6] == '1',
    outbox_ttl_ms = argv[7],
    now = now_ms(),
  }
end
local ranks = {INITIALIZING = 0, INPROGRESS = 1}
local function rank(status) return ranks[status] or 2 end
-- The change as a package.status event in the partner's outbox; returns its event key.
local function record_change(ctx, id, status, progress, seq)
  if not ctx.record then return nil end
  local event_key = ctx.partner .. ':' .. id .. ':status:' .. string.format('%d', seq) .. ':'
    .. string.format('%d', ctx.now)
  local data = cjson.encode({package_id = id, partner_id = ctx.partner, status = status,
    progress = progress or cjson.null, seq = seq})
  record_event(ctx.outbox, 'package.status', event_key, id, ctx.now, data, ctx.outbox_ttl_ms)
  return event_key
end
-- Returns 1 and the new record for a change, else 0 and the stored one; then, for a build
-- seen finishing, when it was last recorded building; then the recorded event's key.
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
  return 1, record, finished_since, record_change(ctx, id, status, tonumber(progress_arg), seq)
end

-- include: kit/lua/clock.lua
-- One partner's kept list, shared by its scripts. KEYS, in the order ``store.list_keys``
-- sends them: meta, lock, rows, search, touched, the order of all rows, then the order of
-- each indexed status (``rows.STATUS_CODES``, code 0 first). A row's position and status code
-- are the first 20 characters of its stored value, so scripts keep the sorted sets right
-- without parsing JSON. Positions are compared byte by byte (``ZRANGE … BYLEX`` and
-- ``later``), never with Lua's ``<`` on strings, which follows the server's locale.
local meta_key, lock_key, rows_key, search_key, touched_key, order_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local status_order_keys = {unpack(KEYS, 7)}
-- Every key but the lock: they live and expire together.
local kept_keys = {meta_key, rows_key, search_key, touched_key, order_key, unpack(status_order_keys)}

local function status_key(code)
  local n = tonumber(code)
  if n then return status_order_keys[n + 1] end  -- codes count from 0, Lua lists from 1
  return nil
end
-- Replaces a row's stored value (false: removes it), keeping its sets and search text right.
local function place(id, old, new, search)
  local old_pos, old_code, new_pos, new_code
  if old then old_pos = string.sub(old, 1, 19) .. id; old_code = string.sub(old, 20, 20) end
  if new then new_pos = string.sub(new, 1, 19) .. id; new_code = string.sub(new, 20, 20) end
  if old_pos then
    if old_pos ~= new_pos then redis.call('ZREM', order_key, old_pos) end
    local key = status_key(old_code)
    if key and (old_pos ~= new_pos or old_code ~= new_code) then redis.call('ZREM', key, old_pos) end
  end
  if new then
    redis.call('HSET', rows_key, id, new)
    redis.call('HSET', search_key, id, search)
    if new_pos ~= old_pos then redis.call('ZADD', order_key, 0, new_pos) end
    local key = status_key(new_code)
    if key and (new_pos ~= old_pos or new_code ~= old_code) then redis.call('ZADD', key, 0, new_pos) end
  else
    redis.call('HDEL', rows_key, id)
    redis.call('HDEL', search_key, id)
  end
end
local function expire_all(ms)
  for _, key in ipairs(kept_keys) do redis.call('PEXPIRE', key, ms) end
end

"""The kept list's Lua scripts, one per operation of ``KeptListStore``.

Keys of one partner, in the order every script receives them (``store.list_keys``): meta,
lock, rows, search, touched, the order of all rows, then the order of each indexed status
(``rows.STATUS_CODES``). A row's position and status code are the first 20 characters of
its stored value, so scripts keep the sorted sets right without parsing JSON. Scripts
compare positions byte by byte (``ZRANGE … BYLEX`` and ``later``) and never with Lua's
``<`` on strings, which follows the server's locale.
"""

from __future__ import annotations

SEARCH_CHUNK = 256  # rows a search reads per step

# Shared by the scripts: the Redis clock, the sets a row belongs to, moving a row.
COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function status_key(code)
  local n = tonumber(code)
  if n then return KEYS[7 + n] end
  return nil
end
-- Replaces a row's stored value (false: removes it), keeping its sets and search text right.
local function place(id, old, new, search)
  local old_pos, old_code, new_pos, new_code
  if old then old_pos = string.sub(old, 1, 19) .. id; old_code = string.sub(old, 20, 20) end
  if new then new_pos = string.sub(new, 1, 19) .. id; new_code = string.sub(new, 20, 20) end
  if old_pos then
    if old_pos ~= new_pos then redis.call('ZREM', KEYS[6], old_pos) end
    local key = status_key(old_code)
    if key and (old_pos ~= new_pos or old_code ~= new_code) then redis.call('ZREM', key, old_pos) end
  end
  if new then
    redis.call('HSET', KEYS[3], id, new)
    redis.call('HSET', KEYS[4], id, search)
    if new_pos ~= old_pos then redis.call('ZADD', KEYS[6], 0, new_pos) end
    local key = status_key(new_code)
    if key and (new_pos ~= old_pos or new_code ~= old_code) then redis.call('ZADD', key, 0, new_pos) end
  else
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
  end
end
local function expire_all(ms)
  for i = 1, #KEYS do
    if i ~= 2 then redis.call('PEXPIRE', KEYS[i], ms) end
  end
end
"""

# The claim and the renewal every read makes. ARGV[1] refresh ms, ARGV[2] lease ms, ARGV[3]
# token ('' claims nothing), ARGV[4] ttl ms, ARGV[5] stale-if-error ms, ARGV[6] 'reader' (a
# list read) or 'poller' (the worker's poll). A refresh is claimed when the kept rows are a
# refresh interval old and none was claimed in the last interval (whatever its outcome: a
# failing upstream is asked once per interval), or when they are too old to serve at all;
# by a reader also when none is kept (a first read). A reader renews the TTLs, at most once
# per interval: a partner nobody reads expires, however often the worker polls it.
CLAIM = """
local now = now_ms()
local meta = redis.call('HMGET', KEYS[1], 'at', 'next', 'read', 'bytes')
local refresh, stale = tonumber(ARGV[1]), tonumber(ARGV[5])
local claimed = 0
local function claim()
  if ARGV[3] ~= '' and redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then claimed = 1 end
  return claimed
end
local at = tonumber(meta[1])
local age = 0
if at then
  age = now - at
  if age >= refresh and (now >= (tonumber(meta[2]) or 0) or age >= stale) and claim() == 1 then
    redis.call('HSET', KEYS[1], 'next', now + refresh)
  end
  if ARGV[6] == 'reader' and now - (tonumber(meta[3]) or 0) >= refresh then
    redis.call('HSET', KEYS[1], 'read', now)
    expire_all(tonumber(ARGV[4]))
  end
elseif ARGV[6] == 'reader' then
  claim()
end
"""

# A page: up to ARGV[8] rows after the bound ARGV[7] ('+' or '(<position>'), newest first, of
# the sets named by ARGV[11] (comma-separated KEYS indices); with a needle (ARGV[9]) only the
# rows whose id or title contains it, scanning at most ARGV[10] rows (then ``resume`` says
# where the next call goes on). Returns {kept, age ms, claimed, now ms, resume, rows scanned
# by the search (0 without a needle), then position and row JSON of each row}.
READ = (
    COMMON
    + CLAIM
    + """
if not at then return {0, 0, claimed, now, '', 0} end
local count, needle, budget = tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
local CHUNK = SEARCH_CHUNK
local sets = {}
for index in string.gmatch(ARGV[11], '%d+') do sets[#sets + 1] = KEYS[tonumber(index)] end
if #sets == 0 then return {1, age, claimed, now, '', 0} end
local function later(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function found_in(text)
  local colon = string.find(text, ':', 1, true)
  local size = tonumber(string.sub(text, 1, colon - 1))
  return string.find(string.sub(text, colon + 1, colon + size), needle, 1, true)
    or string.find(string.sub(text, colon + size + 1), needle, 1, true)
end
local function in_sets(pos)
  for _, key in ipairs(sets) do
    if redis.call('ZSCORE', key, pos) then return true end
  end
  return false
end
local picked, resume, looked = {}, '', 0
if needle == '' then
  local heads = {}
  for i, key in ipairs(sets) do
    heads[i] = redis.call('ZRANGE', key, ARGV[7], '-', 'BYLEX', 'REV', 'LIMIT', 0, count)
  end
  if #heads == 1 then
    picked = heads[1]
  else
    local at_ = {}
    for i = 1, #heads do at_[i] = 1 end
    while #picked < count do
      local best = nil
      for i = 1, #heads do
        local candidate = heads[i][at_[i]]
        if candidate and (not best or later(candidate, heads[best][at_[best]])) then best = i end
      end
      if not best then break end
      picked[#picked + 1] = heads[best][at_[best]]
      at_[best] = at_[best] + 1
    end
  end
else
  local scan, check = sets[1], false
  if #sets > 1 then scan, check = KEYS[6], true end
  local bound, scanned, full, ended, last = ARGV[7], 0, false, false, nil
  while true do
    local room = math.min(CHUNK, budget - scanned)
    if room <= 0 then break end
    local chunk = redis.call('ZRANGE', scan, bound, '-', 'BYLEX', 'REV', 'LIMIT', 0, room)
    local ids = {}
    for i, pos in ipairs(chunk) do ids[i] = string.sub(pos, 20) end
    local texts = {}
    if #ids > 0 then texts = redis.call('HMGET', KEYS[4], unpack(ids)) end
    for i, pos in ipairs(chunk) do
      scanned, last = scanned + 1, pos
      if texts[i] and found_in(texts[i]) and (not check or in_sets(pos)) then
        picked[#picked + 1] = pos
        if #picked == count then full = true; break end
      end
    end
    if full then break end
    if #chunk < room then ended = true; break end
    bound = '(' .. last
  end
  if not full and not ended and last then resume = last end
  looked = scanned
end
local reply = {1, age, claimed, now, resume, looked}
if #picked == 0 then return reply end
local ids = {}
for i, pos in ipairs(picked) do ids[i] = string.sub(pos, 20) end
local rows = redis.call('HMGET', KEYS[3], unpack(ids))
for i, pos in ipairs(picked) do
  if rows[i] then
    reply[#reply + 1] = pos
    reply[#reply + 1] = string.sub(rows[i], 21)
  end
end
return reply
""".replace("SEARCH_CHUNK", str(SEARCH_CHUNK))
)

# Rows by id (ARGV[7..]), with the same claim. Returns {kept, age ms, claimed, now ms, at ms,
# bytes, then each row's JSON or false}.
ROWS = (
    COMMON
    + CLAIM
    + """
if not at then return {0, 0, claimed, now, 0, 0} end
local reply = {1, age, claimed, now, at, tonumber(meta[4]) or 0}
if #ARGV >= 7 then
  local rows = redis.call('HMGET', KEYS[3], unpack(ARGV, 7))
  for i = 1, #rows do
    if rows[i] then reply[#reply + 1] = string.sub(rows[i], 21) else reply[#reply + 1] = false end
  end
end
return reply
"""
)

# A refresh's rows. ARGV: 1 when its upstream read began (ms), 2 digest, 3 ttl ms, 4 lock
# token, 5 'check' | 'patch', 6 bytes. A read older than the kept one changes nothing.
# 'check': when the rows are those the last refresh wrote (same digest, nothing written
# since), only the time moves; else 0, and the caller sends what differs. 'patch': ARGV[7]
# '1' when the caller left out rows written from a newer read, then (id, value, search, the
# value the caller saw) per row that differs, value '' to remove it, seen '' when absent. A
# row written from a newer read (touched after this one began), or changed since the caller
# looked, is left as it is; the digest is kept only when every row now is the list's.
APPLY = (
    COMMON
    + """
local started = tonumber(ARGV[1])
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '')
local function release()
  if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
end
if at and at >= started then release(); return -1 end
if ARGV[5] == 'check' then
  if at and redis.call('HGET', KEYS[1], 'digest') == ARGV[2] then
    redis.call('HSET', KEYS[1], 'at', started)
    release()
    return 1
  end
  return 0
end
local newer = ARGV[7] == '1'
for i = 8, #ARGV, 4 do
  local id, value = ARGV[i], ARGV[i + 1]
  local touched = tonumber(redis.call('HGET', KEYS[5], id) or '')
  local old = redis.call('HGET', KEYS[3], id)
  if (touched and touched > started) or (old or '') ~= ARGV[i + 3] then
    newer = true
  elseif value == '' then
    place(id, old, false)
  else
    place(id, old, value, ARGV[i + 2])
  end
end
local touched = redis.call('HGETALL', KEYS[5])
for i = 1, #touched, 2 do
  if tonumber(touched[i + 1]) <= started then redis.call('HDEL', KEYS[5], touched[i]) end
end
redis.call('HSET', KEYS[1], 'at', started, 'bytes', ARGV[6])
if newer then redis.call('HDEL', KEYS[1], 'digest') else redis.call('HSET', KEYS[1], 'digest', ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if not at or ttl < 0 then
  ttl = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'read', now_ms())
end
expire_all(ttl)
release()
return 2
"""
)

# Rows read after the kept ones (the BFF's own writes, statuses observed). ARGV: 1 when the
# read began (ms), then (id, value, search, expected value or '*') per row. Nothing when no
# list is kept (the first read fetches it whole); a row is written when this read is not
# older than the row's (the kept list's, or its own last write's) and the row is still the
# one the caller changed. Returns how many rows changed.
UPSERT = (
    COMMON
    + """
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '')
if not at then return 0 end
local observed, changed = tonumber(ARGV[1]), 0
for i = 2, #ARGV, 4 do
  local id, value, expected = ARGV[i], ARGV[i + 1], ARGV[i + 3]
  local since = tonumber(redis.call('HGET', KEYS[5], id) or '') or at
  if observed >= since then
    local old = redis.call('HGET', KEYS[3], id)
    if (expected == '*' or old == expected) and old ~= value then
      place(id, old, value, ARGV[i + 2])
      redis.call('HSET', KEYS[5], id, observed)
      changed = changed + 1
    end
  end
end
if changed > 0 then
  redis.call('HDEL', KEYS[1], 'digest')
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then expire_all(ttl) end
end
return changed
"""
)

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

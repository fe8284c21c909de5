-- include: listing/lua/claim.lua
-- A page: up to ``count`` rows after ``bound`` ('+' or '(<position>'), newest first, of the
-- sets named by ``sets_wanted`` ('all', or the status codes asked, comma-separated); with a
-- ``needle`` only the rows whose id or title contains it, scanning at most ``budget`` rows
-- (then ``resume`` says where the next call goes on). Returns {kept, age ms, claimed, now ms,
-- resume, rows scanned by the search (0 without a needle), then position and row JSON of
-- each row}.
local refresh_ms, lease_ms, token, ttl_ms, stale_ms, role =
  tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local bound, count, needle, budget, sets_wanted =
  ARGV[7], tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10]), ARGV[11]
local SEARCH_CHUNK = 256  -- rows a search reads per step

local claim = claim_refresh(refresh_ms, lease_ms, token, ttl_ms, stale_ms, role)
local now, age, claimed = claim.now, claim.age, claim.claimed
if not claim.at then return {0, 0, claimed, now, '', 0} end
local sets = {}
if sets_wanted == 'all' then
  sets[1] = order_key
else
  for code in string.gmatch(sets_wanted, '%d+') do sets[#sets + 1] = status_key(code) end
end
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
-- The newest ``count`` of the sets' heads, merged.
local function merged_heads()
  local heads = {}
  for i, key in ipairs(sets) do
    heads[i] = redis.call('ZRANGE', key, bound, '-', 'BYLEX', 'REV', 'LIMIT', 0, count)
  end
  if #heads == 1 then return heads[1] end
  local picked, next_of = {}, {}
  for i = 1, #heads do next_of[i] = 1 end
  while #picked < count do
    local best = nil
    for i = 1, #heads do
      local candidate = heads[i][next_of[i]]
      if candidate and (not best or later(candidate, heads[best][next_of[best]])) then best = i end
    end
    if not best then break end
    picked[#picked + 1] = heads[best][next_of[best]]
    next_of[best] = next_of[best] + 1
  end
  return picked
end
-- The rows matching the needle, SEARCH_CHUNK at a time: {picked, resume, rows scanned}.
local function search()
  local picked, resume = {}, ''
  local scan, check = sets[1], false
  if #sets > 1 then scan, check = order_key, true end
  local after, scanned, full, ended, last = bound, 0, false, false, nil
  while true do
    local room = math.min(SEARCH_CHUNK, budget - scanned)
    if room <= 0 then break end
    local chunk = redis.call('ZRANGE', scan, after, '-', 'BYLEX', 'REV', 'LIMIT', 0, room)
    local ids = {}
    for i, pos in ipairs(chunk) do ids[i] = string.sub(pos, 20) end
    local texts = {}
    if #ids > 0 then texts = redis.call('HMGET', search_key, unpack(ids)) end
    for i, pos in ipairs(chunk) do
      scanned, last = scanned + 1, pos
      if texts[i] and found_in(texts[i]) and (not check or in_sets(pos)) then
        picked[#picked + 1] = pos
        if #picked == count then full = true; break end
      end
    end
    if full then break end
    if #chunk < room then ended = true; break end
    after = '(' .. last
  end
  if not full and not ended and last then resume = last end
  return picked, resume, scanned
end

local picked, resume, looked = {}, '', 0
if needle == '' then
  picked = merged_heads()
else
  picked, resume, looked = search()
end
local reply = {1, age, claimed, now, resume, looked}
if #picked == 0 then return reply end
local ids = {}
for i, pos in ipairs(picked) do ids[i] = string.sub(pos, 20) end
local rows = redis.call('HMGET', rows_key, unpack(ids))
for i, pos in ipairs(picked) do
  if rows[i] then
    reply[#reply + 1] = pos
    reply[#reply + 1] = string.sub(rows[i], 21)
  end
end
return reply

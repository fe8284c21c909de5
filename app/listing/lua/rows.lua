-- include: listing/lua/claim.lua
-- Rows by id, with the same claim as read.lua. ARGV: the claim's six, then the ids. Returns
-- {kept, age ms, claimed, now ms, at ms, bytes, then each row's JSON or false}.
local refresh_ms, lease_ms, token, ttl_ms, stale_ms, role =
  tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local FIRST_ID = 7

local claim = claim_refresh(refresh_ms, lease_ms, token, ttl_ms, stale_ms, role)
if not claim.at then return {0, 0, claim.claimed, claim.now, 0, 0} end
local reply = {1, claim.age, claim.claimed, claim.now, claim.at, tonumber(claim.meta[4]) or 0}
if #ARGV >= FIRST_ID then
  local rows = redis.call('HMGET', rows_key, unpack(ARGV, FIRST_ID))
  for i = 1, #rows do
    if rows[i] then reply[#reply + 1] = string.sub(rows[i], 21) else reply[#reply + 1] = false end
  end
end
return reply

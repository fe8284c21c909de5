-- include: listing/lua/kept_list.lua
-- The claim and the renewal every read makes: ``claim_refresh(refresh ms, lease ms, token
-- ('' claims nothing), ttl ms, stale-if-error ms, role)``, role 'reader' (a list read) or
-- 'poller' (the worker's poll). A refresh is claimed when the kept rows are a refresh
-- interval old and none was claimed in the last interval (whatever its outcome: a failing
-- upstream is asked once per interval), or when they are too old to serve at all; by a
-- reader also when none is kept (a first read). A reader renews the TTLs, at most once per
-- interval: a partner nobody reads expires, however often the worker polls it. Returns
-- {now, at (nil when none is kept), age ms, claimed 0/1, meta {at, next, read, bytes}}.
local function claim_refresh(refresh_ms, lease_ms, token, ttl_ms, stale_ms, role)
  local now = now_ms()
  local meta = redis.call('HMGET', meta_key, 'at', 'next', 'read', 'bytes')
  local claimed = 0
  local function claim()
    if token ~= '' and redis.call('SET', lock_key, token, 'NX', 'PX', lease_ms) then claimed = 1 end
    return claimed
  end
  local at = tonumber(meta[1])
  local age = 0
  if at then
    age = now - at
    if age >= refresh_ms and (now >= (tonumber(meta[2]) or 0) or age >= stale_ms) and claim() == 1 then
      redis.call('HSET', meta_key, 'next', now + refresh_ms)
    end
    if role == 'reader' and now - (tonumber(meta[3]) or 0) >= refresh_ms then
      redis.call('HSET', meta_key, 'read', now)
      expire_all(ttl_ms)
    end
  elseif role == 'reader' then
    claim()
  end
  return {now = now, at = at, age = age, claimed = claimed, meta = meta}
end

-- include: kit/lua/lock.lua
-- include: kit/lua/groups.lua
-- include: listing/lua/kept_list.lua
-- A refresh's rows. ARGV: when its upstream read began (ms), digest, ttl ms, lock token,
-- mode 'check' | 'patch', bytes; for 'patch' then '1' when the caller left out rows written
-- from a newer read, then (id, value, search, the value the caller saw) per row that differs,
-- value '' to remove it, seen '' when absent. A read older than the kept one changes nothing
-- (-1). 'check': when the rows are those the last refresh wrote (same digest, nothing
-- written since), only the time moves (1); else 0, and the caller sends what differs. A row
-- written from a newer read (touched after this one began), or changed since the caller
-- looked, is left as it is; the digest is kept only when every row now is the list's (2).
local started, digest, ttl_ms, token, mode, bytes =
  tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local left_out_newer = ARGV[7]
local FIRST_CHANGE, CHANGE_FIELDS = 8, 4

local at = tonumber(redis.call('HGET', meta_key, 'at') or '')
if at and at >= started then release_lock(lock_key, token); return -1 end
if mode == 'check' then
  if at and redis.call('HGET', meta_key, 'digest') == digest then
    redis.call('HSET', meta_key, 'at', started)
    release_lock(lock_key, token)
    return 1
  end
  return 0
end
local newer = left_out_newer == '1'
for id, value, search, seen in groups(ARGV, FIRST_CHANGE, CHANGE_FIELDS) do
  local touched = tonumber(redis.call('HGET', touched_key, id) or '')
  local old = redis.call('HGET', rows_key, id)
  if (touched and touched > started) or (old or '') ~= seen then
    newer = true
  elseif value == '' then
    place(id, old, false)
  else
    place(id, old, value, search)
  end
end
local touched = redis.call('HGETALL', touched_key)
for i = 1, #touched, 2 do
  if tonumber(touched[i + 1]) <= started then redis.call('HDEL', touched_key, touched[i]) end
end
redis.call('HSET', meta_key, 'at', started, 'bytes', bytes)
if newer then redis.call('HDEL', meta_key, 'digest') else redis.call('HSET', meta_key, 'digest', digest) end
local ttl = redis.call('PTTL', meta_key)
if not at or ttl < 0 then
  ttl = ttl_ms
  redis.call('HSET', meta_key, 'read', now_ms())
end
expire_all(ttl)
release_lock(lock_key, token)
return 2

-- A lock is a key holding its holder's token: only that holder may release it, so a holder
-- whose lease ran out (and was taken by another) cannot release the other's lock.
local function release_lock(lock_key, token)
  if redis.call('GET', lock_key) == token then return redis.call('DEL', lock_key) end
  return 0
end

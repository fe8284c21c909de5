-- include: kit/lua/lock.lua
-- Releases the lock if the token still holds it. Returns 1 when released, else 0.
local lock_key = KEYS[1]
local token = ARGV[1]
return release_lock(lock_key, token)

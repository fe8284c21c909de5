-- The second step of a claim: takes the partner's poll lock when it is free. With
-- ``take_back`` '1' the holder may take back a lock of its own. Returns 1 when taken.
local lock_key = KEYS[1]
local holder, lease_ms, take_back = ARGV[1], ARGV[2], ARGV[3]

local current = redis.call('GET', lock_key)
if current and not (current == holder and take_back == '1') then return 0 end
redis.call('SET', lock_key, holder, 'PX', lease_ms)
return 1

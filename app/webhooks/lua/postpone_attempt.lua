-- Moves the due time of the attempt a delivery waits for, logging nothing, only while it is
-- still that attempt. Returns 1 when moved.
local delivery_key, pending_key = KEYS[1], KEYS[2]
local round, attempt, due_at, pending_member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local current = redis.call('HMGET', delivery_key, 'round', 'next_attempt', 'status')
if current[1] ~= round or current[2] ~= attempt or current[3] ~= 'pending' then return 0 end
redis.call('HSET', delivery_key, 'next_attempt_at', due_at)
redis.call('ZADD', pending_key, due_at, pending_member)
return 1

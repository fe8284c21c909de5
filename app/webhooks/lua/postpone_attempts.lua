-- Moves the due time of the attempts deliveries of one partner wait for, logging nothing,
-- each only while it is still that attempt; their pending entries are the caller's next call
-- (another slot on a cluster). KEYS: the deliveries. ARGV: the new due time, then round and
-- attempt per delivery. Returns per delivery the due time it had ('' if none), or false when
-- it was not moved.
local due_at = ARGV[1]
local first_expected = 2

local moved = {}
for i, delivery_key in ipairs(KEYS) do
  local at = first_expected + 2 * (i - 1)
  local round, attempt = ARGV[at], ARGV[at + 1]
  local current = redis.call('HMGET', delivery_key, 'round', 'next_attempt', 'status', 'next_attempt_at')
  if current[1] == round and current[2] == attempt and current[3] == 'pending' then
    redis.call('HSET', delivery_key, 'next_attempt_at', due_at)
    moved[i] = current[4] or ''
  else
    moved[i] = false
  end
end
return moved

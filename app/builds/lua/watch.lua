-- Closes a watch if it is still the one the caller read (``expected``; '' closes none), and
-- takes its partner off the schedule with the last watch. Returns 1 when it closed it.
local function close_watch(watches_key, partners_key, package_id, expected, partner_id)
  local closed = 0
  if expected ~= '' and redis.call('HGET', watches_key, package_id) == expected then
    closed = redis.call('HDEL', watches_key, package_id)
  end
  if redis.call('HLEN', watches_key) == 0 then redis.call('ZREM', partners_key, partner_id) end
  return closed
end

-- Closes a watch if it is still the one the caller read (``expected``). Returns 1 when it
-- closed it, and how many watches the partner has left (0: the caller takes the partner off
-- the schedule, ``WatchRegistry.leave_schedule``).
local function close_watch(watches_key, package_id, expected)
  local closed = 0
  if redis.call('HGET', watches_key, package_id) == expected then
    closed = redis.call('HDEL', watches_key, package_id)
  end
  return closed, redis.call('HLEN', watches_key)
end

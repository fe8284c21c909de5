-- Deletes the given arq in-progress keys that expire within ``within_ms`` (ours: set before
-- the last Worker ended); one with longer to live was set since by another worker, and one
-- without expiry is no key arq set. Returns how many were deleted.
local in_progress_keys = KEYS
local within_ms = tonumber(ARGV[1])

local released = 0
for _, key in ipairs(in_progress_keys) do
  local left = redis.call('PTTL', key)
  if left > 0 and left <= within_ms then
    released = released + redis.call('DEL', key)
  end
end
return released

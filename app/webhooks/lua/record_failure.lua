-- Starts (or extends) an endpoint's failure streak; an enabled endpoint failing for
-- ``disable_after_s`` is disabled. Returns 0 (no endpoint), 1, or 2 when it was just disabled.
local endpoint_key = KEYS[1]
local now, disable_after_s, reason = ARGV[1], tonumber(ARGV[2]), ARGV[3]

if redis.call('EXISTS', endpoint_key) == 0 then return 0 end
local since = redis.call('HGET', endpoint_key, 'failing_since')
if not since then
  redis.call('HSET', endpoint_key, 'failing_since', now)
  since = now
end
if tonumber(now) - tonumber(since) >= disable_after_s
   and redis.call('HGET', endpoint_key, 'enabled') == '1' then
  redis.call('HSET', endpoint_key, 'enabled', '0', 'disabled_reason', reason, 'disabled_at', now)
  return 2
end
return 1

-- ``record_event(outbox, type, event key, package id, at ms, data json, ttl ms)`` records an
-- event in the partner's outbox as data: what happened, not its payload. ``Outbox.publish``
-- (app/activity/outbox.py) renders each to its webhook body from the event's model, logs it
-- and hands it to the webhooks, then deletes it; what a killed process leaves is swept.
local function record_event(outbox, etype, event_key, pkg, at, data, ttl_ms)
  local id = redis.call('XADD', outbox, '*', 'type', etype, 'key', event_key, 'pkg', pkg,
    'at', string.format('%d', at), 'data', data)
  redis.call('PEXPIRE', outbox, ttl_ms)
  return id
end

-- include: kit/lua/clock.lua
-- include: activity/lua/outbox.lua
-- Records one event in the partner's outbox, at the Redis clock. KEYS: the outbox. ARGV:
-- type, event key, package id ('' = none), data JSON, the outbox's TTL ms. Returns the id.
local outbox = KEYS[1]
local etype, event_key, pkg, data, ttl_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
return record_event(outbox, etype, event_key, pkg, now_ms(), data, ttl_ms)

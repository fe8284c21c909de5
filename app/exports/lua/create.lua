-- Saves a new export and indexes it newest first, at once (both indices expire with the newest
-- export). KEYS: the export, the partner's index, the package's index. ARGV: the export's
-- JSON, its id, its creation time (score), the TTL in seconds.
local export_key, partner_index, package_index = KEYS[1], KEYS[2], KEYS[3]
local record, export_id, created_at, ttl_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

redis.call('SET', export_key, record, 'EX', ttl_s)
for _, index in ipairs({partner_index, package_index}) do
  redis.call('ZADD', index, created_at, export_id)
  redis.call('EXPIRE', index, ttl_s)
end
return 1

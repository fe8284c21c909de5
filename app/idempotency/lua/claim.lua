-- One round trip per attempt: the stored answer if there is one, else (within the partner's
-- budget: the bytes its last hourly buckets counted) take the in-flight marker, else tell who
-- holds it, all atomically. Returns {'stored', answer}, {'over', bytes used}, {'claimed', ''}
-- or {'busy', the holder's marker}.
local answer_key, in_flight_key = KEYS[1], KEYS[2]
local budget_keys = {unpack(KEYS, 3)}  -- the partner's hourly byte counts
local marker, ttl_ms, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])

local record = redis.call('GET', answer_key)
if record then return {'stored', record} end
local used = 0
for _, bucket_key in ipairs(budget_keys) do used = used + (tonumber(redis.call('GET', bucket_key)) or 0) end
if used >= budget then return {'over', tostring(used)} end
if redis.call('SET', in_flight_key, marker, 'NX', 'PX', ttl_ms) then return {'claimed', ''} end
return {'busy', redis.call('GET', in_flight_key) or ''}

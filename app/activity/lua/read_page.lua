-- ``read_page(stream, after, limit, scan, max bytes, package, types)``: entries after
-- ``after`` that match (package '' = any, types nil = any), at most ``limit`` of them and
-- ``max bytes`` of bodies (the first match always, so a page moves on), looking at no more
-- than ``scan`` entries. Entries are read a few at a time: a page of large events never holds
-- more than one batch of them beyond the page in the script's memory. Returns {the position
-- reached, 1 when the end was reached, then entry id, message id, body for each match}.
local READ_BATCH = 64
local function read_page(stream, after, limit, scan, max_bytes, pkg, types)
  local out = {}
  local found, scanned, done, bytes, full = 0, 0, 0, 0, false
  local filtered = types ~= nil or pkg ~= ''
  while not full and scanned < scan do
    local want = math.min(scan - scanned, READ_BATCH)
    if not filtered then want = math.min(want, limit - found) end
    local batch = redis.call('XRANGE', stream, '(' .. after, '+', 'COUNT', want)
    for _, entry in ipairs(batch) do
      local f = entry[2]
      local fields = {}
      for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
      if (types == nil or types[fields.type]) and (pkg == '' or pkg == fields.pkg) then
        if found > 0 and bytes + #fields.body > max_bytes then full = true; break end
        out[#out + 1] = entry[1]
        out[#out + 1] = fields.id
        out[#out + 1] = fields.body
        found, bytes = found + 1, bytes + #fields.body
      end
      scanned = scanned + 1
      after = entry[1]
      if found >= limit then full = true; break end
    end
    if not full and #batch < want then
      done = 1
      break
    end
  end
  local result = {after, done}
  for i = 1, #out do result[#result + 1] = out[i] end
  return result
end
-- The event types named in ``list`` from ``first`` on, as a set; nil (any type) when none.
local function wanted_types(list, first)
  if #list < first then return nil end
  local types = {}
  for i = first, #list do types[list[i]] = true end
  return types
end

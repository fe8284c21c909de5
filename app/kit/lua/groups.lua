-- A flat argument list read in groups: ``for id, value in groups(ARGV, first, 2) do``
-- yields the fields of each group of ``width`` from ``list[first]`` on.
local function groups(list, first, width)
  local at = first - width
  return function()
    at = at + width
    if at > #list then return nil end
    return unpack(list, at, at + width - 1)
  end
end

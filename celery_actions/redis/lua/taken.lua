-- taken.lua: which of these job keys exist (ids already taken).
--
-- KEYS[1] .. KEYS[n] job keys
-- ARGV: none
-- Returns the 1-based positions of the keys that exist.
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then taken[#taken + 1] = i end
end
return taken

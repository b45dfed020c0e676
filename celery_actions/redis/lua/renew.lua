-- renew.lua: extend the leases (and group slots) of actions a worker is running.
--
-- KEYS[1] leases zset
-- ARGV[1] key prefix   ARGV[2] lease ms   ARGV[3..] id, token pairs
-- Returns { renewed count, { ids whose lease went to another dispatch } }; an action that
-- just finished (same token, any other status) is neither.
local L = KEYS[1]
local P, lease_ms = ARGV[1], ARGV[2]
local expiry = now_ms() + tonumber(lease_ms)
local renewed, lost = 0, {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', job_key(P, id), 'status', 'token', 'queue')
  local status, current, group = f[1], f[2], f[3]
  if status == 'running' and current == token then
    redis.call('ZADD', L, 'XX', expiry, id)
    if group and group ~= '' then redis.call('ZADD', slots_key(P, group), 'XX', expiry, id) end
    renewed = renewed + 1
  elseif current ~= token then
    lost[#lost + 1] = id -- re-dispatched under a new token (or the record is gone)
  end
end
return { renewed, lost }

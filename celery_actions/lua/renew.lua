-- renew.lua: extend the leases (and queue slots) of actions a worker is running.
--
-- KEYS[1] leases zset
-- ARGV[1] key prefix   ARGV[2] lease ms   ARGV[3..] id, token pairs
-- Returns { renewed count, { ids whose lease went to another dispatch } }; an action that
-- just finished (same token, any other status) is neither.
local L, P = KEYS[1], ARGV[1]
local expiry = now_ms() + tonumber(ARGV[2])
local renewed, lost = 0, {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', job_key(P, id), 'status', 'token', 'queue')
  if f[1] == 'running' and f[2] == token then
    redis.call('ZADD', L, 'XX', expiry, id)
    if f[3] and f[3] ~= '' then redis.call('ZADD', slots_key(P, f[3]), 'XX', expiry, id) end
    renewed = renewed + 1
  elseif f[2] ~= token then
    lost[#lost + 1] = id -- re-dispatched under a new token (or the record is gone)
  end
end
return { renewed, lost }

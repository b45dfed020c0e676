-- lost.lua: dispatch again jobs whose message was looked for in the broker and not found
-- (lost between a consumer's pop and its unacked write, or purged). Only a job still
-- waiting under the token its lost message carried is dispatched; a new token makes that
-- message stale should it turn up after all, so the job never runs twice. A job holding a
-- group slot keeps it.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] outbox reservation ms   ARGV[3] dispatch timeout ms
-- ARGV[4] token nonce   ARGV[5..] id, token pairs
-- Returns { reserved, { message rows to publish }, { ids dispatched again } }
local P, outbox_ms, dispatch_ms, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
local again = {}
for i = 5, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'status', 'token', 'queue')
  local status, current, group = f[1], f[2], f[3]
  if status == 'waiting' and current == token then
    if group and group ~= '' then
      redis.call('ZADD', slots_key(P, group), 'XX', c.dispatch_expiry, id)
    end
    dispatch(c, id)
    redis.call('HSET', jk, 'reason', 'message lost in the broker; dispatched again')
    again[#again + 1] = id
  end
end
return { c.reserved, c.out, again }

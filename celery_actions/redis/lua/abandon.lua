-- abandon.lua: a worker's pool stopped running these attempts without recording an
-- outcome (a prefork child killed, a cold shutdown): dispatch them again now instead of
-- when their lease expires. Only an attempt still running under its token is taken: one
-- that recorded its outcome is left alone.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] outbox reservation ms   ARGV[3] dispatch timeout ms
-- ARGV[4] token nonce   ARGV[5] max lost attempts   ARGV[6] retention ms
-- ARGV[7..] id, token pairs
-- Returns { reserved, { message rows to publish }, { failed ids }, { ids taken } }
local P, outbox_ms, dispatch_ms, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_lost, retention_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
local failed, taken, freed = {}, {}, {}
for i = 7, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'status', 'token', 'queue')
  local status, current, group = f[1], f[2], f[3]
  if status == 'running' and current == token then
    taken[#taken + 1] = id
    redis.call('ZREM', c.L, id)
    if group and group ~= '' then
      redis.call('ZREM', slots_key(P, group), id)
      freed[group] = true
    end
    local lost = redis.call('HINCRBY', jk, 'lost', 1)
    add_attempt(P, id, 'lost', c.now, {})
    revoke_token(jk)
    if lost > max_lost then
      redis.call('HSET', jk, 'error', 'worker lost ' .. lost .. ' times while running it',
        'error_type', 'celery_actions.errors.WorkerLost')
      finish(c, id, 'failed', retention_ms)
      failed[#failed + 1] = id
    else
      index_status(P, id, 'waiting', c.now)
      redis.call('HSET', jk, 'status', 'waiting', 'reason', 'worker lost; dispatching again')
      make_ready(c, id)
    end
  end
end
for group, _ in pairs(freed) do admit(c, group) end
return { c.reserved, c.out, failed, taken }

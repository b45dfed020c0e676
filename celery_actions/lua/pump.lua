-- pump.lua: one pass of a worker's pump. Run by every worker; atomic, so no leader.
--  1. Leases that expired (a killed worker, a lost message) are reclaimed: the slot is
--     freed, the token bumped (the old message becomes stale) and the job made due now,
--     unless it was lost more than max_lost times (then it fails: a poison message).
--  2. Due entries of the scheduled set (startAt, retry delays, lapsed outbox
--     reservations) are made ready: dispatched, or queued for a slot.
--  3. Queues whose slots were freed admit their next waiting jobs.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] queues zset   KEYS[4] seq counter
-- ARGV[1] key prefix   ARGV[2] batch size   ARGV[3] outbox reservation ms
-- ARGV[4] slot (dispatch) ms   ARGV[5] max lost attempts   ARGV[6] retention ms
-- Returns { reserved, next due ms or '', { message rows to publish }, { failed ids } }
local S, L, QS, SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, batch = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local reserved = now + tonumber(ARGV[3])
local slot_expiry = now + tonumber(ARGV[4])
local max_lost, retention = tonumber(ARGV[5]), tonumber(ARGV[6])
local out, failed, freed = {}, {}, {}

for _, id in ipairs(redis.call('ZRANGEBYSCORE', L, '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', L, id)
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'status', 'queue')
  if f[2] and f[2] ~= '' then
    redis.call('ZREM', slots_key(P, f[2]), id)
    freed[f[2]] = true
  end
  if f[1] == 'running' or f[1] == 'waiting' then
    local lost = 0
    if f[1] == 'running' then lost = redis.call('HINCRBY', jk, 'lost', 1) end
    redis.call('HINCRBY', jk, 'token', 1)
    if lost > max_lost then
      redis.call('HSET', jk, 'error', 'worker lost ' .. lost .. ' times while running it',
        'error_type', 'celery_actions.errors.WorkerLost')
      finish(P, id, 'failed', now, retention)
      failed[#failed + 1] = id
    else
      local why = 'dispatch timed out'
      if f[1] == 'running' then why = 'worker lost' end
      redis.call('HSET', jk, 'status', 'waiting', 'reason', why .. '; dispatching again')
      redis.call('ZADD', S, now, id)
    end
  end
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', S, '-inf', now, 'LIMIT', 0, batch)) do
  local status = redis.call('HGET', job_key(P, id), 'status')
  if status == 'scheduled' or status == 'retrying' or status == 'waiting' then
    make_ready(P, S, L, QS, SEQ, id, now, reserved, slot_expiry, out)
  else
    redis.call('ZREM', S, id)
  end
end

for q, _ in pairs(freed) do admit(P, S, L, QS, q, now, reserved, slot_expiry, out) end

local head = redis.call('ZRANGE', S, 0, 0, 'WITHSCORES')
local next_due = ''
if #head > 0 then next_due = head[2] end
return { reserved, next_due, out, failed }

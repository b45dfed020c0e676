-- pump.lua: one pass of a worker's pump. Run by every worker; atomic, so no leader.
--  1. Leases that expired (a killed worker, a lost message) are reclaimed: the slot is
--     freed, the token bumped (the old message becomes stale) and the job made due now,
--     unless it was lost more than max_lost times (then it fails: a poison message).
--  2. Due entries of the scheduled set (startAt, retry delays, lapsed outbox
--     reservations) are made ready: dispatched, or queued for a slot.
--  3. Groups whose slots were freed admit their next waiting jobs.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] batch size   ARGV[3] outbox reservation ms
-- ARGV[4] slot (dispatch) ms   ARGV[5] max lost attempts   ARGV[6] retention ms
-- Returns { reserved, next due ms or '', { message rows to publish }, { failed ids } }
local P, batch, outbox_ms, slot_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local max_lost, retention_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, slot_ms)
local failed, freed = {}, {}

for _, id in ipairs(redis.call('ZRANGEBYSCORE', c.L, '-inf', c.now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', c.L, id)
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'status', 'queue')
  local status, group = f[1], f[2]
  if group and group ~= '' then
    redis.call('ZREM', slots_key(P, group), id)
    freed[group] = true
  end
  if status == 'running' or status == 'waiting' then
    local lost = 0
    if status == 'running' then lost = redis.call('HINCRBY', jk, 'lost', 1) end
    redis.call('HINCRBY', jk, 'token', 1)
    if lost > max_lost then
      redis.call('HSET', jk, 'error', 'worker lost ' .. lost .. ' times while running it',
        'error_type', 'celery_actions.errors.WorkerLost')
      finish(c, id, 'failed', retention_ms)
      failed[#failed + 1] = id
    else
      local why = 'dispatch timed out'
      if status == 'running' then why = 'worker lost' end
      redis.call('HSET', jk, 'status', 'waiting', 'reason', why .. '; dispatching again')
      redis.call('ZADD', c.S, c.now, id)
    end
  end
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', c.S, '-inf', c.now, 'LIMIT', 0, batch)) do
  local status = redis.call('HGET', job_key(P, id), 'status')
  if status == 'scheduled' or status == 'retrying' or status == 'waiting' then
    make_ready(c, id)
  else
    redis.call('ZREM', c.S, id)
  end
end

for group, _ in pairs(freed) do admit(c, group) end

local head = redis.call('ZRANGE', c.S, 0, 0, 'WITHSCORES')
local next_due = ''
if #head > 0 then next_due = head[2] end
return { c.reserved, next_due, c.out, failed }

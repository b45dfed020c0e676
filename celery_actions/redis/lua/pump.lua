-- pump.lua: one pass of a worker's pump. Run by every worker; atomic, so no leader.
--  0. A stall or outage of Redis does not count against leases: when no pass ran for
--     longer than stall_ms (Redis paused, down, or every worker stopped), every lease is
--     extended by that gap before any is judged. PULSE holds the last pass's time.
--  1. Leases that expired are judged. A running job's worker is lost: its slot is freed,
--     its token revoked (the old message becomes stale) and it is made due now, unless it
--     was lost more than max_lost times (then it fails: a poison message). A dispatched
--     job that nobody claimed in time is a suspect: its lease is extended and it is
--     returned, so the caller can look for its message in the broker (see lost.lua).
--  2. Due entries of the scheduled set (startAt, retry delays, lapsed outbox
--     reservations) are made ready: dispatched, or queued for a slot.
--  3. Groups whose slots were freed admit their next waiting jobs.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter      KEYS[6] pulse string
-- ARGV[1] key prefix   ARGV[2] batch size   ARGV[3] outbox reservation ms
-- ARGV[4] dispatch timeout ms   ARGV[5] max lost attempts   ARGV[6] retention ms
-- ARGV[7] token nonce   ARGV[8] stall ms
-- Returns { reserved, next due ms or '', { message rows to publish }, { failed ids },
--           { suspects: id, token, action, priority, celery queue }, stall gap ms or 0 }
local PULSE = KEYS[6]
local P, batch, outbox_ms, dispatch_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local max_lost, retention_ms, nonce = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local stall_ms = tonumber(ARGV[8])
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
local failed, freed, suspects = {}, {}, {}

local last_pass = tonumber(redis.call('GET', PULSE))
local gap = 0
if last_pass and c.now - last_pass > stall_ms then
  gap = c.now - last_pass
  local leases = redis.call('ZRANGE', c.L, 0, -1, 'WITHSCORES')
  for i = 1, #leases, 2 do
    redis.call('ZADD', c.L, tonumber(leases[i + 1]) + gap, leases[i])
  end
end
redis.call('SET', PULSE, c.now)

for _, id in ipairs(redis.call('ZRANGEBYSCORE', c.L, '-inf', c.now, 'LIMIT', 0, batch)) do
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'status', 'queue', 'token', 'action', 'priority', 'cq')
  local status, group, token = f[1], f[2], f[3]
  if status == 'waiting' and token then
    redis.call('ZADD', c.L, c.dispatch_expiry, id)
    if group and group ~= '' then
      redis.call('ZADD', slots_key(P, group), 'XX', c.dispatch_expiry, id)
    end
    suspects[#suspects + 1] = { id, token, f[4], f[5], f[6] or '' }
  else
    redis.call('ZREM', c.L, id)
    if group and group ~= '' then
      redis.call('ZREM', slots_key(P, group), id)
      freed[group] = true
    end
    if status == 'running' then
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
        redis.call('ZADD', c.S, c.now, id)
      end
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
return { c.reserved, next_due, c.out, failed, suspects, gap }

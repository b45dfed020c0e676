-- finish.lua: record the outcome of an attempt, free its lease and slot, admit the next.
-- The worker has decided whether a failure is retried (core/retry.py); a cancel requested
-- while the attempt ran turns a retry into 'cancelled'. Idempotent: the outcome is kept
-- in 'done' under the attempt's token, and a repeated call (its reply was lost to a Redis
-- failover) returns it again without writing anything.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter      KEYS[6] wake list
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] token
-- ARGV[4] outcome: 'complete' | 'retry' | 'failed'   ARGV[5] retry delay ms
-- ARGV[6] reason text   ARGV[7] error text   ARGV[8] error type   ARGV[9] retention ms
-- ARGV[10] outbox reservation ms   ARGV[11] dispatch timeout ms   ARGV[12] wake horizon ms
-- ARGV[13] result backend key or ''   ARGV[14] encoded result meta   ARGV[15] its expiry ms
-- ARGV[16] the status the meta is for: it is stored (SET + PUBLISH, as Celery's Redis
--          backend does) only when that is the status written
-- ARGV[17] token nonce   ARGV[18] the traceback of a failed attempt (for its timeline)
-- Returns { status written or 'stale', reserved, { message rows to publish }, due or '',
--           1 if the result meta was stored else 0 }
local WAKE = KEYS[6]
local P, id, token, outcome, delay_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local reason, error_text, error_type = ARGV[6], ARGV[7], ARGV[8]
local retention_ms, outbox_ms, dispatch_ms = tonumber(ARGV[9]), ARGV[10], ARGV[11]
local horizon_ms = tonumber(ARGV[12])
local result_key, result_meta, result_expiry_ms, result_status =
  ARGV[13], ARGV[14], tonumber(ARGV[15]), ARGV[16]
local nonce = ARGV[17]
local traceback = ARGV[18]

local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'token', 'cancel_requested', 'queue', 'done')
local current_status, current_token, cancel_requested, group = f[1], f[2], f[3], f[4] or ''
local done = f[5]
if current_token ~= token or current_status ~= 'running' then
  if done and string.sub(done, 1, #token + 1) == token .. ' ' then
    local status_was, due_was, stored_was = string.match(done, ' (%S+) (%S*) (%d)$')
    return { status_was, 0, {}, due_was, tonumber(stored_was) }
  end
  return { 'stale', 0, {}, '', 0 }
end
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
local due = ''

local status = 'complete'
if outcome ~= 'complete' then
  status = 'failed'
  redis.call('HINCRBY', jk, 'failures', 1)
  redis.call('HSET', jk, 'error', error_text, 'error_type', error_type)
  if outcome == 'retry' then
    if cancel_requested == '1' then
      status, reason = 'cancelled', 'cancelled'
    else
      status, due = 'retrying', c.now + delay_ms
      index_status(P, id, 'retrying', c.now)
      redis.call('HSET', jk, 'status', 'retrying', 'next_attempt_at', due, 'reason', reason)
      redis.call('ZADD', c.S, due, id)
      if delay_ms < horizon_ms then wake_pumps(WAKE) end
    end
  end
  add_attempt(P, id, status, c.now, { delay_ms = due ~= '' and delay_ms or nil,
    error = error_text, error_type = error_type, traceback = traceback })
else
  reason = ''
end
if status ~= 'retrying' then finish(c, id, status, retention_ms, reason) end
release(c, id, group)
local stored = 0
if result_key ~= '' and status == result_status then
  if result_expiry_ms > 0 then
    redis.call('SET', result_key, result_meta, 'PX', result_expiry_ms)
  else
    redis.call('SET', result_key, result_meta)
  end
  redis.call('PUBLISH', result_key, result_meta)
  stored = 1
end
redis.call('HSET', jk, 'done', token .. ' ' .. status .. ' ' .. tostring(due) .. ' ' .. stored)
return { status, c.reserved, c.out, tostring(due), stored }

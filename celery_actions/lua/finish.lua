-- finish.lua: record the outcome of an attempt, free its lease and slot, admit the next.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] queues zset   KEYS[4] wake list
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] token
-- ARGV[4] outcome: 'complete' | 'retry' | 'failed'
-- ARGV[5] retry delay ms   ARGV[6] retry deadline ms (no retry may start later)
-- ARGV[7] error text   ARGV[8] error type   ARGV[9] retention ms
-- ARGV[10] outbox reservation ms   ARGV[11] slot (dispatch) ms   ARGV[12] wake horizon ms
-- ARGV[13] retry count of the policy (for the reason text)
-- ARGV[14] result backend key or ''   ARGV[15] encoded result meta   ARGV[16] its expiry ms
-- ARGV[17] the status the meta is for: it is stored (SET + PUBLISH, as Celery's Redis
--          backend does) only when that is the status written
-- Returns { status written or 'stale', reserved, { message rows to publish }, due or '',
--           1 if the result meta was stored else 0 }
local S, L, QS, WAKE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, id, token, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'token', 'cancel_requested', 'queue')
if f[2] ~= token or f[1] ~= 'running' then return { 'stale', 0, {}, '', 0 } end
local now = now_ms()
local reserved = now + tonumber(ARGV[10])
local slot_expiry = now + tonumber(ARGV[11])
local retention = tonumber(ARGV[9])
local out, due = {}, ''

local status = 'complete'
if outcome ~= 'complete' then
  status = 'failed'
  local failures = redis.call('HINCRBY', jk, 'failures', 1)
  redis.call('HSET', jk, 'error', ARGV[7], 'error_type', ARGV[8])
  if outcome == 'retry' then
    local when = now + tonumber(ARGV[5])
    if f[3] == '1' then
      status = 'cancelled'
    elseif when <= tonumber(ARGV[6]) then
      status, due = 'retrying', when
      redis.call('HSET', jk, 'status', 'retrying', 'next_attempt_at', when, 'reason',
        'attempt ' .. failures .. ' failed with ' .. ARGV[8] .. '; retry ' .. failures .. ' of '
        .. ARGV[13] .. ' in ' .. ARGV[5] .. ' ms')
      redis.call('ZADD', S, when, id)
      if tonumber(ARGV[5]) < tonumber(ARGV[12]) then
        redis.call('LPUSH', WAKE, 1)
        redis.call('LTRIM', WAKE, 0, 0)
      end
    end
  end
end
if status ~= 'retrying' then finish(P, id, status, now, retention) end
release(P, S, L, QS, id, now, reserved, slot_expiry, out, f[4] or '')
local stored = 0
if ARGV[14] ~= '' and status == ARGV[17] then
  if tonumber(ARGV[16]) > 0 then
    redis.call('SET', ARGV[14], ARGV[15], 'PX', ARGV[16])
  else
    redis.call('SET', ARGV[14], ARGV[15])
  end
  redis.call('PUBLISH', ARGV[14], ARGV[15])
  stored = 1
end
return { status, reserved, out, tostring(due), stored }

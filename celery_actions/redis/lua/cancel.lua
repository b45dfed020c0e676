-- cancel.lua: cancel a job that has not started. A running job is, by mode: 'request'
-- marked so that it is not retried (it is not interrupted); 'stop' cancelled now, when
-- its worker has stopped that very attempt (Celery's revoke with terminate: the token
-- must be the attempt's); 'idle' left alone (an expiry only stops an action starting).
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] retention ms   ARGV[4] outbox reservation ms
-- ARGV[5] dispatch timeout ms   ARGV[6] token nonce   ARGV[7] reason ('' for 'cancelled')
-- ARGV[8] mode: 'request' | 'stop' | 'idle' ('' for 'request')   ARGV[9] the stopped
-- attempt's token (mode 'stop')
-- Returns { 'cancelled', reserved, { message rows to publish } } | { 'running' }
--       | { 'final', status } | { 'missing' }
local P, id, retention_ms, outbox_ms, dispatch_ms, nonce =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local reason, mode, stopped_token = ARGV[7] or '', ARGV[8] or '', ARGV[9] or ''
if reason == '' then reason = 'cancelled' end
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'queue', 'token')
local status, group, token = f[1], f[2] or '', f[3]
if not status then return { 'missing' } end
if status == 'running' then
  if mode == 'stop' and token == stopped_token then
    status = 'waiting' -- its attempt is stopped: cancel it as one that has not started
  else
    if mode ~= 'idle' then redis.call('HSET', jk, 'cancel_requested', 1) end
    return { 'running' }
  end
end
if status ~= 'scheduled' and status ~= 'waiting' and status ~= 'retrying' then
  return { 'final', status }
end
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
revoke_token(jk)
redis.call('ZREM', c.S, id)
if group ~= '' then redis.call('ZREM', waiting_key(P, group), id) end
redis.call('HDEL', jk, 'env_key', 'env') -- an envelope kept for a dispatch that never comes
finish(c, id, 'cancelled', tonumber(retention_ms), reason)
release(c, id, group)
return { 'cancelled', c.reserved, c.out }

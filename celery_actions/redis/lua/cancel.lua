-- cancel.lua: cancel a job that has not started. A running job is marked so that it is
-- not retried; it is not interrupted.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] retention ms   ARGV[4] outbox reservation ms
-- ARGV[5] dispatch timeout ms   ARGV[6] token nonce
-- Returns { 'cancelled', reserved, { message rows to publish } } | { 'running' }
--       | { 'final', status } | { 'missing' }
local P, id, retention_ms, outbox_ms, dispatch_ms, nonce =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'queue')
local status, group = f[1], f[2] or ''
if not status then return { 'missing' } end
if status == 'running' then
  redis.call('HSET', jk, 'cancel_requested', 1)
  return { 'running' }
end
if status ~= 'scheduled' and status ~= 'waiting' and status ~= 'retrying' then
  return { 'final', status }
end
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
revoke_token(jk)
redis.call('ZREM', c.S, id)
if group ~= '' then redis.call('ZREM', waiting_key(P, group), id) end
redis.call('HDEL', jk, 'env_key', 'env') -- an envelope kept for a dispatch that never comes
finish(c, id, 'cancelled', tonumber(retention_ms), 'cancelled')
release(c, id, group)
return { 'cancelled', c.reserved, c.out }

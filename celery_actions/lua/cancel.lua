-- cancel.lua: cancel a job that has not started. A running job is marked so that it is
-- not retried; it is not interrupted.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] queues zset
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] retention ms   ARGV[4] outbox reservation ms
-- ARGV[5] slot (dispatch) ms
-- Returns { 'cancelled', reserved, { message rows to publish } } | { 'running' }
--       | { 'final', status } | { 'missing' }
local S, L, QS = KEYS[1], KEYS[2], KEYS[3]
local P, id = ARGV[1], ARGV[2]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'queue')
if not f[1] then return { 'missing' } end
if f[1] == 'running' then
  redis.call('HSET', jk, 'cancel_requested', 1)
  return { 'running' }
end
if f[1] ~= 'scheduled' and f[1] ~= 'waiting' and f[1] ~= 'retrying' then
  return { 'final', f[1] }
end
local now = now_ms()
local reserved = now + tonumber(ARGV[4])
local out = {}
redis.call('HINCRBY', jk, 'token', 1)
redis.call('ZREM', S, id)
if f[2] and f[2] ~= '' then redis.call('ZREM', waiting_key(P, f[2]), id) end
redis.call('HDEL', jk, 'env_key', 'env') -- an envelope kept for a dispatch that never comes
finish(P, id, 'cancelled', now, tonumber(ARGV[3]), 'cancelled')
release(P, S, L, QS, id, now, reserved, now + tonumber(ARGV[5]), out, f[2] or '')
return { 'cancelled', reserved, out }

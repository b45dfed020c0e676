-- rerun.lua: run a finished action again (`celery actions retry`): a failed or cancelled
-- job gets a fresh retry budget and window (failures, lost and first start cleared; its
-- attempts keep counting), loses its retention TTL, and is made ready like a new job
-- (dispatched, or waiting for a slot of its queue).
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] outbox reservation ms
-- ARGV[4] dispatch timeout ms   ARGV[5] token nonce
-- Returns { 'ok', reserved, { message rows to publish } } | { 'refused', status }
--       | { 'missing' }
local P, id, outbox_ms, dispatch_ms, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = job_key(P, id)
local status = redis.call('HGET', jk, 'status')
if not status then return { 'missing' } end
if status ~= 'failed' and status ~= 'cancelled' then return { 'refused', status } end
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
redis.call('PERSIST', jk)
redis.call('HDEL', jk, 'failures', 'lost', 'first_started_at', 'finished_at', 'error',
  'error_type', 'cancel_requested', 'done', 'claim', 'next_attempt_at', 'token')
redis.call('HSET', jk, 'status', 'waiting', 'reason', 'run again')
make_ready(c, id)
return { 'ok', c.reserved, c.out }

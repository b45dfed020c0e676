-- retry_now.lua: an operator's "retry now". A scheduled or retrying action is made ready
-- at once (dispatched, or queued for a slot); a failed or cancelled one is run again: its
-- record is kept (no TTL again) with its attempts and timeline, its failures are reset so
-- that its retry policy applies afresh, and it is made ready. A complete, waiting or
-- running action is left as it is. The caller removes a stored result meta first.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] outbox reservation ms
-- ARGV[4] dispatch timeout ms   ARGV[5] token nonce
-- Returns { 'ok', reserved, { message rows to publish } } | { 'unchanged', status }
--       | { 'missing' }
local P, id, outbox_ms, dispatch_ms, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'options')
local status, options = f[1], f[2]
if not status then return { 'missing' } end
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms, nonce)
if status == 'failed' or status == 'cancelled' then
  if not options then return { 'unchanged', status } end
  redis.call('PERSIST', jk)
  redis.call('PERSIST', timeline_key(P, id))
  redis.call('HDEL', jk, 'failures', 'lost', 'first_started_at', 'finished_at', 'error',
    'error_type', 'cancel_requested', 'done', 'next_attempt_at')
  redis.call('HSETNX', jk, 'priority', 'default') -- (left out of the finished record)
  index_status(P, id, 'scheduled', c.now)
  redis.call('HSET', jk, 'status', 'scheduled', 'reason', 'retried by an operator')
elseif status ~= 'scheduled' and status ~= 'retrying' then
  return { 'unchanged', status }
end
make_ready(c, id)
return { 'ok', c.reserved, c.out }

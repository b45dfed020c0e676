-- claim.lua: a worker is about to run a job's message. Claim it if the message's token is
-- the job's current token and the job is waiting; otherwise the message is stale (a
-- broker redelivery, or a dispatch superseded after a lost lease) and must be dropped.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] token   ARGV[4] lease ms   ARGV[5] worker name
-- Returns { 'ok', attempts, failures, first_started_at, options json, now }
--      or { 'stale', status or 'missing' }
local S, L = KEYS[1], KEYS[2]
local P, id, token = ARGV[1], ARGV[2], ARGV[3]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'token', 'queue', 'first_started_at', 'options',
  'failures', 'next_attempt_at')
if not f[1] then return { 'stale', 'missing' } end
if f[2] ~= token or f[1] ~= 'waiting' then return { 'stale', f[1] } end
local now = now_ms()
local expiry = now + tonumber(ARGV[4])
local first = f[4] or tostring(now)
local attempts = redis.call('HINCRBY', jk, 'attempts', 1)
if f[7] then redis.call('HDEL', jk, 'next_attempt_at') end
redis.call('HSET', jk, 'status', 'running', 'reason', '', 'started_at', now,
  'first_started_at', first, 'worker', ARGV[5])
redis.call('ZREM', S, id)
redis.call('ZADD', L, expiry, id)
if f[3] and f[3] ~= '' then redis.call('ZADD', slots_key(P, f[3]), 'XX', expiry, id) end
return { 'ok', attempts, tonumber(f[6]) or 0, tonumber(first), f[5], now }

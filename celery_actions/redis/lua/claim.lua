-- claim.lua: a worker is about to run a job's message. Claim it if the message's token is
-- the job's current token and the job is waiting; otherwise the message is stale (a
-- broker redelivery, or a dispatch superseded after a lost lease) and must be dropped.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] token   ARGV[4] lease ms   ARGV[5] worker name
-- Returns { 'ok', attempts, failures, first_started_at, options json, now }
--      or { 'stale', status or 'missing' }
local S, L = KEYS[1], KEYS[2]
local P, id, token, lease_ms, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'token', 'queue', 'first_started_at', 'options',
  'failures', 'next_attempt_at')
local status, current, group, first_started = f[1], f[2], f[3], f[4]
local options, failures, next_attempt = f[5], f[6], f[7]
if not status then return { 'stale', 'missing' } end
if current ~= token or status ~= 'waiting' then return { 'stale', status } end
local now = now_ms()
local expiry = now + tonumber(lease_ms)
local first = first_started or tostring(now)
local attempts = redis.call('HINCRBY', jk, 'attempts', 1)
if next_attempt then redis.call('HDEL', jk, 'next_attempt_at') end
redis.call('HSET', jk, 'status', 'running', 'reason', '', 'started_at', now,
  'first_started_at', first, 'worker', worker)
redis.call('ZREM', S, id)
redis.call('ZADD', L, expiry, id)
if group and group ~= '' then redis.call('ZADD', slots_key(P, group), 'XX', expiry, id) end
return { 'ok', attempts, tonumber(failures) or 0, tonumber(first), options, now }

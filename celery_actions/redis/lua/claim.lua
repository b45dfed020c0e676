-- claim.lua: a worker is about to run a job's message. Claim it if the message names the
-- job's action and carries its current token, and the job is waiting; otherwise the
-- message is stale (a broker redelivery, a dispatch superseded after a lost lease) or
-- forged, and must be dropped. Idempotent: a claim repeated with the same claim id (its
-- reply was lost to a Redis failover) is granted again.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] token   ARGV[4] lease ms   ARGV[5] worker name
-- ARGV[6] the message's task name   ARGV[7] claim id (unique per attempt to claim)
-- Returns { 'ok', attempts, failures, first_started_at, options json, now }
--      or { 'stale', status or 'missing' } or { 'forged', why }
local S, L = KEYS[1], KEYS[2]
local P, id, token, lease_ms, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local task_name, claim_id = ARGV[6], ARGV[7]
local jk = job_key(P, id)
local f = redis.call('HMGET', jk, 'status', 'token', 'queue', 'first_started_at', 'options',
  'failures', 'next_attempt_at', 'action', 'claim', 'attempts')
local status, current, group, first_started = f[1], f[2], f[3], f[4]
local options, failures, next_attempt, action = f[5], f[6], f[7], f[8]
local last_claim, attempts = f[9], f[10]
if not status then return { 'stale', 'missing' } end
if action ~= task_name then return { 'forged', 'task ' .. task_name .. ' is not ' .. action } end
if token == '' or current ~= token then return { 'stale', status } end
local now = now_ms()
local expiry = now + tonumber(lease_ms)
if status == 'running' and last_claim == claim_id then
  return { 'ok', tonumber(attempts), tonumber(failures) or 0, tonumber(first_started), options, now }
end
if status ~= 'waiting' then return { 'stale', status } end
local first = first_started or tostring(now)
attempts = redis.call('HINCRBY', jk, 'attempts', 1)
if next_attempt then redis.call('HDEL', jk, 'next_attempt_at') end
index_status(P, id, 'running', now)
redis.call('HSET', jk, 'status', 'running', 'reason', '', 'started_at', now,
  'first_started_at', first, 'worker', worker, 'claim', claim_id)
redis.call('ZREM', S, id)
redis.call('ZADD', L, expiry, id)
if group and group ~= '' then redis.call('ZADD', slots_key(P, group), 'XX', expiry, id) end
return { 'ok', attempts, tonumber(failures) or 0, tonumber(first), options, now }

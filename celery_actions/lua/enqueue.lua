-- enqueue.lua: create jobs and make each one scheduled, waiting for a slot, or dispatched.
-- All or nothing: if any id is taken (and duplicates are an error), nothing is written.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] queues zset
-- KEYS[4] seq counter      KEYS[5] wake list     KEYS[6] rate-limit bucket hash
-- ARGV[1] key prefix       ARGV[2] outbox reservation ms   ARGV[3] slot (dispatch) ms
-- ARGV[4] on a taken id: 'error' | 'ignore' | 'new' (the caller guarantees fresh ids)
-- ARGV[5] wake horizon ms
-- ARGV[6] rate limit per ms ('' for none)   ARGV[7] bucket capacity   ARGV[8] bucket n
-- ARGV[9] event channel or ''   ARGV[10] task-sent event, published once if a job is new
-- ARGV[11] m, the number of specs (what jobs share), then m specs of 7 fields:
--           action, options json, priority, queue name or '', maxConcurrency,
--           celery queue or '', broker list key or '' (no key: publish through the outbox)
-- then the jobs, 5 fields each: id, params json, spec number (1-based), startAt ms or '',
--           Celery envelope of the first dispatch, or '' (see below)
--
-- With a list key, a job's envelope given here is pushed (or kept in the record until the
-- job is due or admitted). An empty envelope means the caller writes it in the same
-- MULTI transaction: LPUSHed for a job dispatched now (no queue, no startAt), or already
-- in the record (fields env_key, env) for the others. Big per-job strings stay out of Lua
-- that way: Lua interns every string, and on Redis < 7 a thousand envelopes that differ in
-- a few bytes hash alike and make interning quadratic.
--
-- Returns { reserved, { outcome per job }, { message rows to publish } } where an outcome
-- is 'dispatched' | 'waiting' | 'scheduled' | 'duplicate'; or { 'duplicate', id } when a
-- taken id is an error; or { 'ratelimited', ms to wait }. Nothing is written then.
local S, L, QS, SEQ, WAKE, BUCKET = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local P = ARGV[1]
local now = now_ms()
local reserved = now + tonumber(ARGV[2])
local slot_expiry = now + tonumber(ARGV[3])
local on_dup, horizon = ARGV[4], tonumber(ARGV[5])
local SF, JF = 7, 5
local m = tonumber(ARGV[11])
local B0 = 12 + m * SF
local n = (#ARGV - B0 + 1) / JF

if on_dup == 'error' then
  for i = 0, n - 1 do
    local id = ARGV[B0 + i * JF]
    if redis.call('EXISTS', job_key(P, id)) == 1 then return { 'duplicate', id } end
  end
end
if ARGV[6] ~= '' then
  local wait = take_from_bucket(BUCKET, tonumber(ARGV[6]), tonumber(ARGV[7]),
    tonumber(ARGV[8]), now)
  if wait > 0 then return { 'ratelimited', wait } end
end

-- Each spec's record fields, once: counters (attempts, failures, lost) and empty strings
-- are left out, since readers take a missing field as 0 or ''.
local specs = {}
for s = 0, m - 1 do
  local a = 12 + s * SF
  local shared = { 'action', ARGV[a], 'options', ARGV[a + 1], 'priority', ARGV[a + 2],
    'created_at', now }
  local queue = ARGV[a + 3]
  if queue ~= '' then
    shared[#shared + 1] = 'queue'; shared[#shared + 1] = queue
    shared[#shared + 1] = 'limit'; shared[#shared + 1] = ARGV[a + 4]
  end
  if ARGV[a + 5] ~= '' then
    shared[#shared + 1] = 'cq'; shared[#shared + 1] = ARGV[a + 5]
  end
  specs[s + 1] = { fields = shared, queue = queue, list_key = ARGV[a + 6] }
end

local function record(jk, spec, params, extra)
  local fields = { unpack(spec.fields) }
  fields[#fields + 1] = 'params'; fields[#fields + 1] = params
  for _, v in ipairs(extra) do fields[#fields + 1] = v end
  redis.call('HSET', jk, unpack(fields))
end

local outcomes, out, wake, written = {}, {}, false, false
for i = 0, n - 1 do
  local b = B0 + i * JF
  local id = ARGV[b]
  local jk = job_key(P, id)
  if on_dup == 'ignore' and redis.call('EXISTS', jk) == 1 then
    outcomes[i + 1] = 'duplicate'
  else
    written = true
    local spec, params = specs[tonumber(ARGV[b + 2])], ARGV[b + 1]
    local start_at, env = tonumber(ARGV[b + 3]), ARGV[b + 4]
    local keep = {}
    if env ~= '' then keep = { 'env_key', spec.list_key, 'env', env } end
    if start_at and start_at > now then
      record(jk, spec, params, { 'start_at', start_at, 'token', 0, 'status', 'scheduled',
        unpack(keep) })
      redis.call('ZADD', S, start_at, id)
      if start_at - now < horizon then wake = true end
      outcomes[i + 1] = 'scheduled'
    elseif spec.queue == '' and not start_at and spec.list_key ~= '' then
      -- the common case: no queue limit, fast path; dispatched with token 1 right here
      record(jk, spec, params, { 'token', 1, 'status', 'waiting' })
      if env ~= '' then redis.call('LPUSH', spec.list_key, env) end
      outcomes[i + 1] = 'dispatched'
    else
      record(jk, spec, params, { 'token', 0, 'status', 'scheduled', unpack(keep) })
      if make_ready(P, S, L, QS, SEQ, id, now, reserved, slot_expiry, out) then
        outcomes[i + 1] = 'dispatched'
      else
        outcomes[i + 1] = 'waiting'
      end
    end
  end
end
if written and ARGV[10] ~= '' then redis.call('PUBLISH', ARGV[9], ARGV[10]) end
if wake then
  redis.call('LPUSH', WAKE, 1)
  redis.call('LTRIM', WAKE, 0, 0)
end
return { reserved, outcomes, out }

-- enqueue.lua: create jobs and make each one scheduled, waiting for a slot, or dispatched.
-- All or nothing: if any id is taken (and duplicates are an error), nothing is written.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter      KEYS[6] wake list     KEYS[7] rate-limit bucket hash
-- ARGV[1] key prefix       ARGV[2] outbox reservation ms   ARGV[3] dispatch timeout ms
-- ARGV[4] on a taken id: 'error' | 'ignore' | 'new' (the caller guarantees fresh ids)
-- ARGV[5] wake horizon ms
-- ARGV[6] rate limit per ms ('' for none)   ARGV[7] bucket capacity   ARGV[8] bucket n
-- ARGV[9] event channel or ''   ARGV[10] task-sent event, published once if a job is new
-- ARGV[11] token nonce
-- ARGV[12] m, the number of specs (what jobs share), then m specs of 9 fields:
--           action, options json, priority, group name or '', maxConcurrency,
--           celery queue or '', broker list key or '' (no key: publish through the outbox),
--           what its messages carry besides params (json, the 'celery' field) or '',
--           identity of a browser enqueuer or ''
-- then the jobs, 6 fields each: id, params json, spec number (1-based), startAt ms or '',
--           Celery envelope of the first dispatch or '' (see below), and the token that
--           envelope carries (random, from the caller)
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
local WAKE, BUCKET = KEYS[6], KEYS[7]
local P, outbox_ms, dispatch_ms, on_dup = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local horizon_ms = tonumber(ARGV[5])
local rate_per_ms, capacity, bucket_n = ARGV[6], ARGV[7], ARGV[8]
local event_channel, sent_event = ARGV[9], ARGV[10]
local nonce = ARGV[11]
local m = tonumber(ARGV[12])
local SPEC_FIELDS, JOB_FIELDS = 9, 6
local FIRST_SPEC = 13
local FIRST_JOB = FIRST_SPEC + m * SPEC_FIELDS
local n = (#ARGV - FIRST_JOB + 1) / JOB_FIELDS
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], outbox_ms, dispatch_ms,
  nonce)

if on_dup == 'error' then
  for i = 0, n - 1 do
    local id = ARGV[FIRST_JOB + i * JOB_FIELDS]
    if redis.call('EXISTS', job_key(P, id)) == 1 then return { 'duplicate', id } end
  end
end
if rate_per_ms ~= '' then
  local wait = take_from_bucket(BUCKET, tonumber(rate_per_ms), tonumber(capacity),
    tonumber(bucket_n), c.now)
  if wait > 0 then return { 'ratelimited', wait } end
end

-- Each spec's record fields, once: counters (attempts, failures, lost) and empty strings
-- are left out, since readers take a missing field as 0 or ''.
local specs = {}
for s = 0, m - 1 do
  local a = FIRST_SPEC + s * SPEC_FIELDS
  local action, options, priority, group = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local limit, celery_queue, list_key = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local carried = ARGV[a + 7]
  local identity = ARGV[a + 8]
  local shared = { 'action', action, 'options', options, 'priority', priority,
    'created_at', c.now }
  if identity ~= '' then
    shared[#shared + 1] = 'identity'; shared[#shared + 1] = identity
  end
  if group ~= '' then
    shared[#shared + 1] = 'queue'; shared[#shared + 1] = group
    shared[#shared + 1] = 'limit'; shared[#shared + 1] = limit
    -- the latest enqueue sets an active group's limit; a raised limit admits at once
    if redis.call('ZSCORE', c.GROUPS, group) then
      local before = tonumber(redis.call('HGET', c.LIMITS, group)) or 1
      redis.call('HSET', c.LIMITS, group, limit)
      if tonumber(limit) > before then admit(c, group) end
    end
  end
  if celery_queue ~= '' then
    shared[#shared + 1] = 'cq'; shared[#shared + 1] = celery_queue
  end
  if carried ~= '' then
    shared[#shared + 1] = 'celery'; shared[#shared + 1] = carried
  end
  specs[s + 1] = { fields = shared, group = group, list_key = list_key, action = action }
end

-- extra names the status second (see the calls below): the new job is indexed under it
local function record(jk, id, spec, params, extra)
  local fields = { unpack(spec.fields) }
  fields[#fields + 1] = 'params'; fields[#fields + 1] = params
  for _, v in ipairs(extra) do fields[#fields + 1] = v end
  redis.call('HSET', jk, unpack(fields))
  index_new(P, id, extra[2], spec.action, spec.group, c.now)
  spec.written = true
end

local outcomes, wake, written = {}, false, false
local leased = {} -- score, id pairs of jobs dispatched here: one ZADD for them all
for i = 0, n - 1 do
  local b = FIRST_JOB + i * JOB_FIELDS
  local id, params, spec_number = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local start_at, env, token = tonumber(ARGV[b + 3]), ARGV[b + 4], ARGV[b + 5]
  local jk = job_key(P, id)
  if on_dup == 'ignore' and redis.call('EXISTS', jk) == 1 then
    outcomes[i + 1] = 'duplicate'
  else
    written = true
    local spec = specs[spec_number]
    local keep = {}
    if env ~= '' then keep = { 'env_key', spec.list_key, 'env', env } end
    if start_at and start_at > c.now then
      record(jk, id, spec, params, { 'status', 'scheduled', 'start_at', start_at, unpack(keep) })
      redis.call('ZADD', c.S, start_at, id)
      if start_at - c.now < horizon_ms then wake = true end
      outcomes[i + 1] = 'scheduled'
    elseif spec.group == '' and not start_at and spec.list_key ~= '' then
      -- the common case: no group limit, fast path; dispatched right here, its envelope
      -- carrying the caller's token
      record(jk, id, spec, params, { 'status', 'waiting', 'token', token, 'dispatches', 1 })
      leased[#leased + 1] = c.dispatch_expiry; leased[#leased + 1] = id
      if env ~= '' then redis.call('LPUSH', spec.list_key, env) end
      outcomes[i + 1] = 'dispatched'
    else
      record(jk, id, spec, params, { 'status', 'scheduled', unpack(keep) })
      if make_ready(c, id) then
        outcomes[i + 1] = 'dispatched'
      else
        outcomes[i + 1] = 'waiting'
      end
    end
  end
end
for first = 1, #leased, 2000 do
  redis.call('ZADD', c.L, unpack(leased, first, math.min(first + 1999, #leased)))
end
if written and sent_event ~= '' then redis.call('PUBLISH', event_channel, sent_event) end
local fresh = 0
for _, spec in ipairs(specs) do
  if spec.written then
    redis.call('ZADD', indexed_actions_key(P), c.now, spec.action)
    if spec.group ~= '' then redis.call('ZADD', indexed_groups_key(P), c.now, spec.group) end
  end
end
for _, outcome in ipairs(outcomes) do
  if outcome ~= 'duplicate' then fresh = fresh + 1 end
end
if fresh > 0 then count_stat(P, 'enqueued', c.now, fresh) end
if wake then wake_pumps(WAKE) end
return { c.reserved, outcomes, c.out }

-- enqueue.lua: create jobs and make each one scheduled, waiting for a slot, or dispatched.
-- All or nothing: if any id is taken (and duplicates are an error), nothing is written.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] queues zset
-- KEYS[4] seq counter      KEYS[5] wake list     KEYS[6] rate-limit bucket hash
-- ARGV[1] key prefix       ARGV[2] outbox reservation ms   ARGV[3] slot (dispatch) ms
-- ARGV[4] "error" | "ignore" on duplicate ids   ARGV[5] wake horizon ms   ARGV[6] n jobs
-- ARGV[7] rate limit per ms ('' for none)   ARGV[8] bucket capacity   ARGV[9] bucket n
-- ARGV[10..] per job, 13 fields: id, action, params json, options json, priority,
--           queue name or '', maxConcurrency, celery queue or '', startAt ms or '',
--           broker list key or '', Celery envelope (first dispatch) or '',
--           event channel or '', task-sent event or '' (published for every new job)
-- Returns { reserved, { {id, outcome}... }, { message rows to publish } } where outcome
-- is 'dispatched' | 'waiting' | 'scheduled' | 'duplicate'; or { 'duplicate', id } when a
-- taken id is an error; or { 'ratelimited', ms to wait }. Nothing is written then.
local S, L, QS, SEQ, WAKE, BUCKET = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local P = ARGV[1]
local now = now_ms()
local reserved = now + tonumber(ARGV[2])
local slot_expiry = now + tonumber(ARGV[3])
local on_dup, horizon, n = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local F, B0 = 13, 10

if on_dup == 'error' then
  for i = 0, n - 1 do
    local id = ARGV[B0 + i * F]
    if redis.call('EXISTS', job_key(P, id)) == 1 then return { 'duplicate', id } end
  end
end
if ARGV[7] ~= '' then
  local wait = take_from_bucket(BUCKET, tonumber(ARGV[7]), tonumber(ARGV[8]),
    tonumber(ARGV[9]), now)
  if wait > 0 then return { 'ratelimited', wait } end
end

local outcomes, out, wake = {}, {}, false
for i = 0, n - 1 do
  local b = B0 + i * F
  local id = ARGV[b]
  local jk = job_key(P, id)
  if on_dup ~= 'error' and redis.call('EXISTS', jk) == 1 then
    outcomes[#outcomes + 1] = { id, 'duplicate' }
  else
    local start_at, queue, env = tonumber(ARGV[b + 8]), ARGV[b + 5], ARGV[b + 10]
    -- Counters (attempts, failures, lost) and empty strings are left out: readers take
    -- a missing field as 0 or ''.
    local fields = { 'id', id, 'action', ARGV[b + 1], 'params', ARGV[b + 2],
      'options', ARGV[b + 3], 'priority', ARGV[b + 4], 'created_at', now }
    if queue ~= '' then
      table.insert(fields, 'queue'); table.insert(fields, queue)
      table.insert(fields, 'limit'); table.insert(fields, ARGV[b + 6])
    end
    if ARGV[b + 7] ~= '' then table.insert(fields, 'cq'); table.insert(fields, ARGV[b + 7]) end
    if env ~= '' and (queue ~= '' or (start_at and start_at > now)) then
      -- dispatched later (when due, or when a slot frees): keep the envelope for then
      table.insert(fields, 'env_key'); table.insert(fields, ARGV[b + 9])
      table.insert(fields, 'env'); table.insert(fields, env)
    end
    if start_at and start_at > now then
      table.insert(fields, 'start_at'); table.insert(fields, start_at)
      table.insert(fields, 'token'); table.insert(fields, 0)
      table.insert(fields, 'status'); table.insert(fields, 'scheduled')
      redis.call('HSET', jk, unpack(fields))
      redis.call('ZADD', S, start_at, id)
      if start_at - now < horizon then wake = true end
      outcomes[#outcomes + 1] = { id, 'scheduled' }
    elseif queue == '' and env ~= '' then
      -- the common case: no queue limit, fast path; dispatched with token 1 right here
      table.insert(fields, 'token'); table.insert(fields, 1)
      table.insert(fields, 'status'); table.insert(fields, 'waiting')
      redis.call('HSET', jk, unpack(fields))
      redis.call('LPUSH', ARGV[b + 9], env)
      outcomes[#outcomes + 1] = { id, 'dispatched' }
    else
      table.insert(fields, 'token'); table.insert(fields, 0)
      table.insert(fields, 'status'); table.insert(fields, 'scheduled')
      redis.call('HSET', jk, unpack(fields))
      if make_ready(P, S, L, QS, SEQ, id, now, reserved, slot_expiry, out) then
        outcomes[#outcomes + 1] = { id, 'dispatched' }
      else
        outcomes[#outcomes + 1] = { id, 'waiting' }
      end
    end
    if ARGV[b + 12] ~= '' then redis.call('PUBLISH', ARGV[b + 11], ARGV[b + 12]) end
  end
end
if wake then
  redis.call('LPUSH', WAKE, 1)
  redis.call('LTRIM', WAKE, 0, 0)
end
return { reserved, outcomes, out }

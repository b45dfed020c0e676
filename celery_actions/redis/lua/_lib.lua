-- _lib.lua: helpers shared by every script; prepended to each one when it is loaded,
-- after the constants of celery_actions/core/protocol.py (TOKEN_HEADER, BAND, BAND_SPAN).
-- Key names mirror celery_actions/redis/keys.py, record fields and statuses
-- core/protocol.py (tests pin both).
--
-- A "group" is a concurrency group (Gadget's queue: a name and a maxConcurrency). While a
-- group is active (it has slot holders or waiters) it is listed in GROUPS and its limit
-- is held in LIMITS: the limit of the latest enqueue that named it.
--
-- Job statuses: scheduled | waiting | running | retrying | failed | complete | cancelled.
-- A job is "dispatched" when it has a token and a message carrying that token is (being)
-- published; a message whose token is not the job's current token is stale and is dropped.
--
-- Most helpers take c, the state of one script call (see context below).

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function job_key(P, id) return P .. 'job:' .. id end
local function slots_key(P, group) return P .. 'q:' .. group .. ':slots' end
local function waiting_key(P, group) return P .. 'q:' .. group .. ':waiting' end

-- c: P key prefix, S scheduled, L leases, GROUPS, LIMITS, SEQ keys; now (server ms);
-- reserved, the outbox score of rows published through kombu; dispatch_expiry, until when
-- a dispatched job may stay unclaimed before its message is looked for; nonce, random
-- text from the caller that makes this call's dispatch tokens unguessable; dispatched,
-- a counter that makes them unique; out, the rows to publish; waited, the ids that began
-- to wait for a slot (for Flower: pump.lua returns them).
local function context(P, S, L, GROUPS, LIMITS, SEQ, outbox_ms, dispatch_ms, nonce)
  local now = now_ms()
  return { P = P, S = S, L = L, GROUPS = GROUPS, LIMITS = LIMITS, SEQ = SEQ, now = now,
    reserved = now + tonumber(outbox_ms), dispatch_expiry = now + tonumber(dispatch_ms),
    nonce = nonce, dispatched = 0, out = {}, waited = {} }
end

-- Make every message of a job stale: no token matches until the next dispatch.
local function revoke_token(jk)
  redis.call('HDEL', jk, 'token')
end

-- The fields a publisher needs, in the order Python reads them (redis/records.py
-- MessageRow): failures is the message's retries count, celery what it carries besides
-- the params (the canvas, headers, expires).
local function message_row(P, id, token)
  local f = redis.call('HMGET', job_key(P, id), 'action', 'params', 'priority', 'cq',
    'failures', 'celery')
  return { id, tostring(token), f[1], f[2], f[3], f[4] or '', f[5] or '0', f[6] or '' }
end

-- A stored envelope re-issued under this dispatch's token: the token header and the
-- delivery tag (kept unique per dispatch) are rewritten.
local function retoken(env, token)
  local header = '"' .. TOKEN_HEADER .. '": '
  local out = string.gsub(env, header .. '"[^"]*"', header .. '"' .. token .. '"', 1)
  out = string.gsub(out, '"delivery_tag": "([^"]*)"', '"delivery_tag": "%1.' .. token .. '"', 1)
  return out
end

-- A token nobody can guess or has seen: the caller's random nonce and a counter.
local function new_token(c)
  c.dispatched = c.dispatched + 1
  return c.nonce .. string.format('%x', c.dispatched)
end

-- Give the job a new token, mark it waiting and lease it until dispatch_expiry (then the
-- pump looks for its message). With an envelope (the Redis broker fast path, stored in
-- the record by enqueue for a scheduled or queued job, used once) push the Celery message
-- now; otherwise reserve an outbox entry and add a row to publish: until the publisher
-- confirms, the job stays in the scheduled set, due again when the reservation lapses.
local function dispatch(c, id)
  local jk = job_key(c.P, id)
  local token = new_token(c)
  redis.call('HINCRBY', jk, 'dispatches', 1)
  redis.call('HSET', jk, 'status', 'waiting', 'reason', '', 'token', token)
  redis.call('ZADD', c.L, c.dispatch_expiry, id)
  local f = redis.call('HMGET', jk, 'env_key', 'env')
  local env_key, env = f[1], f[2]
  if env_key then
    redis.call('HDEL', jk, 'env_key', 'env')
    redis.call('LPUSH', env_key, retoken(env, token))
    redis.call('ZREM', c.S, id) -- in the broker now: no longer due (nor an outbox entry)
  else
    redis.call('ZADD', c.S, c.reserved, id)
    c.out[#c.out + 1] = message_row(c.P, id, token)
  end
end

-- The enqueue leaky bucket: admit n more if the level, drained at rate_per_ms since the
-- last call, leaves room under capacity. Returns 0 when admitted, else the ms to wait.
local function take_from_bucket(B, rate_per_ms, capacity, n, now)
  local f = redis.call('HMGET', B, 'level', 'at')
  local level = tonumber(f[1]) or 0
  local at = tonumber(f[2]) or now
  level = math.max(0, level - (now - at) * rate_per_ms)
  if level + n > capacity then
    return math.ceil((level + n - capacity) / rate_per_ms)
  end
  redis.call('HSET', B, 'level', string.format('%.6f', level + n), 'at', now)
  redis.call('PEXPIRE', B, math.ceil(capacity / rate_per_ms) + 1000)
  return 0
end

-- The group's limit: the one held while it is active, else this job's own (which then
-- becomes the group's).
local function group_limit(c, group, jk)
  local limit = tonumber(redis.call('HGET', c.LIMITS, group))
  if limit then return limit end
  limit = tonumber(redis.call('HGET', jk, 'limit')) or 1
  redis.call('HSET', c.LIMITS, group, limit)
  return limit
end

-- Keep a group listed while it has holders or waiters; forget it (and its limit) when idle.
local function touch_group(c, group)
  if redis.call('EXISTS', slots_key(c.P, group), waiting_key(c.P, group)) == 0 then
    redis.call('ZREM', c.GROUPS, group)
    redis.call('HDEL', c.LIMITS, group)
  else
    redis.call('ZADD', c.GROUPS, c.now, group)
  end
end

-- Admit waiting jobs of a group while it has free slots.
local function admit(c, group)
  local wk, sk = waiting_key(c.P, group), slots_key(c.P, group)
  while true do
    local head = redis.call('ZRANGE', wk, 0, 0)
    if #head == 0 then break end
    local id = head[1]
    local jk = job_key(c.P, id)
    if redis.call('HGET', jk, 'status') ~= 'waiting' then
      redis.call('ZREM', wk, id) -- cancelled or expired while waiting
    else
      if redis.call('ZCARD', sk) >= group_limit(c, group, jk) then break end
      redis.call('ZREM', wk, id)
      redis.call('ZADD', sk, c.dispatch_expiry, id)
      dispatch(c, id)
    end
  end
  touch_group(c, group)
end

-- Make a job ready to run: publish it now, or hold it in its group's waiting set.
-- Returns false when it waits for a slot.
local function make_ready(c, id)
  local jk = job_key(c.P, id)
  local group = redis.call('HGET', jk, 'queue')
  if group and group ~= '' then
    local sk = slots_key(c.P, group)
    if not redis.call('ZSCORE', sk, id) then
      local limit = group_limit(c, group, jk)
      local used = redis.call('ZCARD', sk)
      local wk = waiting_key(c.P, group)
      if used >= limit or redis.call('ZCARD', wk) > 0 then
        if not redis.call('ZSCORE', wk, id) then
          local band = BAND[redis.call('HGET', jk, 'priority')] or BAND.default
          local arrival = redis.call('INCR', c.SEQ)
          redis.call('ZADD', wk, band * BAND_SPAN + arrival, id)
        end
        redis.call('ZREM', c.S, id)
        -- every earlier message of this job is stale now: none may claim it without a slot
        revoke_token(jk)
        redis.call('HSET', jk, 'status', 'waiting', 'reason',
          'queue ' .. group .. ': ' .. used .. ' of ' .. limit .. ' slots in use')
        redis.call('ZADD', c.GROUPS, c.now, group)
        -- a free slot with others already waiting: the head of the line goes first
        if used < limit then admit(c, group) end
        if redis.call('ZSCORE', sk, id) then return true end
        c.waited[#c.waited + 1] = id
        return false
      end
      redis.call('ZADD', sk, c.dispatch_expiry, id)
      redis.call('ZADD', c.GROUPS, c.now, group)
    end
  end
  dispatch(c, id)
  return true
end

-- Free the slot a job holds (if any) and admit the next waiting jobs of its group.
-- group is the job's group name when the caller has read it already.
local function release(c, id, group)
  redis.call('ZREM', c.L, id)
  if group == nil then group = redis.call('HGET', job_key(c.P, id), 'queue') end
  if group and group ~= '' then
    redis.call('ZREM', slots_key(c.P, group), id)
    admit(c, group)
  end
end

-- Record a final status; the record expires after the retention.
local function finish(c, id, status, retention_ms, reason)
  local jk = job_key(c.P, id)
  redis.call('HSET', jk, 'status', status, 'finished_at', c.now, 'reason', reason or '')
  redis.call('PEXPIRE', jk, retention_ms)
end

-- A running job's worker is lost: revoke its token and count the loss. A job whose cancel
-- was requested while it ran is cancelled ('cancelled'); past max_lost losses it fails, a
-- poison message ('failed'); else it waits to be dispatched again ('again': the caller
-- makes it ready).
local function worker_lost(c, id, max_lost, retention_ms)
  local jk = job_key(c.P, id)
  local lost = redis.call('HINCRBY', jk, 'lost', 1)
  revoke_token(jk)
  if redis.call('HGET', jk, 'cancel_requested') == '1' then
    finish(c, id, 'cancelled', retention_ms, 'cancelled')
    return 'cancelled'
  end
  if lost > max_lost then
    redis.call('HSET', jk, 'error', 'worker lost ' .. lost .. ' times while running it',
      'error_type', 'celery_actions.errors.WorkerLost')
    finish(c, id, 'failed', retention_ms)
    return 'failed'
  end
  redis.call('HSET', jk, 'status', 'waiting', 'reason', 'worker lost; dispatching again')
  return 'again'
end

local function wake_pumps(WAKE)
  redis.call('LPUSH', WAKE, 1)
  redis.call('LTRIM', WAKE, 0, 0)
end

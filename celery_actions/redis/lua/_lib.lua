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
local function paused_key(P) return P .. 'queue_paused' end
local function overrides_key(P) return P .. 'queue_overrides' end

-- Indexes (the dashboard's listing, filters and counts; never a SCAN). Every job is in the
-- sorted set of its status, and in that of its status and action (and of its status and
-- group, when it has one), scored by when it entered the status. index_status is called
-- wherever a status is written, just before the write; finished entries are trimmed by
-- trim.lua once their records have expired.
local function status_index(P, status) return P .. 'ix:' .. status end
local function action_index(P, status, action) return P .. 'ix:' .. status .. ':a:' .. action end
local function group_index(P, status, group) return P .. 'ix:' .. status .. ':q:' .. group end
local function stats_key(P, now) return P .. 'stats:' .. math.floor(now / 60000) end
local function timeline_key(P, id) return P .. 'tl:' .. id end
local function events_channel(P, id) return P .. 'ev:' .. id end
local function indexed_actions_key(P) return P .. 'ix:actions' end
local function indexed_groups_key(P) return P .. 'ix:queues' end
local STATS_TTL_MS = 2 * 3600 * 1000

-- Count n events of a kind (Stat in core/protocol.py) in the current minute.
local function count_stat(P, kind, now, n)
  local key = stats_key(P, now)
  redis.call('HINCRBY', key, kind, n)
  redis.call('PEXPIRE', key, STATS_TTL_MS)
end

-- Index a new job (its record written with this status).
local function index_new(P, id, status, action, group, now)
  redis.call('ZADD', status_index(P, status), now, id)
  redis.call('ZADD', action_index(P, status, action), now, id)
  if group ~= '' then redis.call('ZADD', group_index(P, status, group), now, id) end
end

-- Move a job's index entries to the status it is about to be given; a job enqueued from
-- a browser also publishes the change on its events channel.
local function index_status(P, id, status, now)
  local f = redis.call('HMGET', job_key(P, id), 'status', 'action', 'queue', 'identity')
  local old, action, group = f[1], f[2], f[3] or ''
  if old == status or not action then return end
  if old then
    redis.call('ZREM', status_index(P, old), id)
    redis.call('ZREM', action_index(P, old, action), id)
    if group ~= '' then redis.call('ZREM', group_index(P, old, group), id) end
  end
  index_new(P, id, status, action, group, now)
  if status == 'retrying' or status == 'complete' or status == 'failed'
      or status == 'cancelled' then
    count_stat(P, status, now, 1)
  end
  if f[4] then redis.call('PUBLISH', events_channel(P, id), status) end
end

-- Append the attempt that just ended without completing to the job's timeline
-- (TIMELINE_KEYS in core/protocol.py); extra holds its outcome's own fields.
local function add_attempt(P, id, outcome, now, extra)
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'attempts', 'worker', 'started_at', 'slot_wait')
  local entry = { n = tonumber(f[1]) or 0, worker = f[2] or '', started_at = tonumber(f[3]),
    ended_at = now, outcome = outcome, slot_wait = tonumber(f[4]) or 0 }
  for k, v in pairs(extra) do entry[k] = v end
  local tk = timeline_key(P, id)
  redis.call('RPUSH', tk, cjson.encode(entry))
  redis.call('LTRIM', tk, -TIMELINE_MAX, -1)
  redis.call('HDEL', jk, 'slot_wait')
end

-- A finished record keeps what people read (action, params, status, times, attempts,
-- worker, error, dispatches) and what a repeated finish needs (done, written after: it
-- starts with the token), less empty or default values; a failed or cancelled one also its
-- options and limit, so that it can be retried. The Celery queue stays (where it ran). It is written anew, as a
-- hash Redis turned into a hashtable (a value once over 64 bytes, such as the options or
-- an envelope) stays one: rewritten, a record of small values is a compact listpack. It
-- and its timeline expire after the retention.
local LIVE_ONLY = { token = true, claim = true, env_key = true, env = true,
  next_attempt_at = true, cancel_requested = true, queued_at = true }
local RETRY_ONLY = { options = true, limit = true }
local function compact(P, id, status, retention_ms)
  local jk = job_key(P, id)
  local all = redis.call('HGETALL', jk)
  local started = redis.call('HGET', jk, 'started_at')
  local kept = {}
  for i = 1, #all, 2 do
    local name, value = all[i], all[i + 1]
    local drop = LIVE_ONLY[name] or value == '' or (name == 'priority' and value == 'default')
      or (status == 'complete' and RETRY_ONLY[name])
      or (name == 'first_started_at' and value == started) -- (one attempt: the same)
    if not drop then
      kept[#kept + 1] = name; kept[#kept + 1] = value
    end
  end
  redis.call('DEL', jk)
  redis.call('HSET', jk, unpack(kept))
  redis.call('PEXPIRE', jk, retention_ms)
  redis.call('PEXPIRE', timeline_key(P, id), retention_ms)
end

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
  -- a compact (finished, run again) record leaves out a default priority
  return { id, tostring(token), f[1], f[2], f[3] or 'default', f[4] or '', f[5] or '0',
    f[6] or '' }
end

-- A stored envelope re-issued under this dispatch's token: the token header and the
-- delivery tag (kept unique per dispatch) are rewritten.
local function retoken(env, token)
  local header = '"' .. TOKEN_HEADER .. '": '
  local out = string.gsub(env, header .. '"[^"]*"', header .. '"' .. token .. '"', 1)
  out = string.gsub(out, '"delivery_tag": "([^"]*)"', '"delivery_tag": "%1.' .. token .. '"', 1)
  return out
end

-- A token nobody can guess or has seen: a hash of the caller's random nonce and a
-- counter (Lua's own RNG is deterministic), so that one token tells nothing of another.
local function new_token(c)
  c.dispatched = c.dispatched + 1
  return string.sub(redis.sha1hex(c.nonce .. ':' .. c.dispatched), 1, 20)
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
  index_status(c.P, id, 'waiting', c.now)
  redis.call('HSET', jk, 'status', 'waiting', 'reason', '', 'token', token)
  redis.call('ZADD', c.L, c.dispatch_expiry, id)
  local f = redis.call('HMGET', jk, 'env_key', 'env', 'queued_at')
  local env_key, env = f[1], f[2]
  if f[3] then -- it waited for a slot of its group until now
    redis.call('HSET', jk, 'slot_wait', c.now - tonumber(f[3]))
    redis.call('HDEL', jk, 'queued_at')
  end
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
  if redis.call('HEXISTS', paused_key(c.P), group) == 1 then return 0 end
  local forced = tonumber(redis.call('HGET', overrides_key(c.P), group))
  if forced then return forced end
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
          redis.call('HSET', jk, 'queued_at', c.now)
        end
        redis.call('ZREM', c.S, id)
        -- every earlier message of this job is stale now: none may claim it without a slot
        revoke_token(jk)
        index_status(c.P, id, 'waiting', c.now)
        local why = 'queue ' .. group .. ': ' .. used .. ' of ' .. limit .. ' slots in use'
        if limit == 0 then why = 'queue ' .. group .. ': paused' end
        redis.call('HSET', jk, 'status', 'waiting', 'reason', why)
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
  index_status(c.P, id, status, c.now)
  redis.call('HSET', jk, 'status', status, 'finished_at', c.now, 'reason', reason or '')
  compact(c.P, id, status, retention_ms)
end

-- A running job's worker is lost: revoke its token and count the loss. A job whose cancel
-- was requested while it ran is cancelled ('cancelled'); past max_lost losses it fails, a
-- poison message ('failed'); else it waits to be dispatched again ('again': the caller
-- makes it ready).
local function worker_lost(c, id, max_lost, retention_ms)
  local jk = job_key(c.P, id)
  local lost = redis.call('HINCRBY', jk, 'lost', 1)
  add_attempt(c.P, id, 'lost', c.now, {})
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
  index_status(c.P, id, 'waiting', c.now)
  redis.call('HSET', jk, 'status', 'waiting', 'reason', 'worker lost; dispatching again')
  return 'again'
end

local function wake_pumps(WAKE)
  redis.call('LPUSH', WAKE, 1)
  redis.call('LTRIM', WAKE, 0, 0)
end

-- _lib.lua: helpers shared by every script; prepended to each one when it is loaded.
-- Key names mirror celery_actions/keys.py (a test pins that both agree). P is the prefix.
--
-- Job statuses: scheduled | waiting | running | retrying | failed | complete | cancelled.
-- A job is "dispatched" when it has a token and a message carrying that token is (being)
-- published; a message whose token is not the job's current token is stale and is dropped.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function job_key(P, id) return P .. 'job:' .. id end
local function slots_key(P, q) return P .. 'q:' .. q .. ':slots' end
local function waiting_key(P, q) return P .. 'q:' .. q .. ':waiting' end

local BAND = { high = 0, default = 1, low = 2 }
local BAND_SPAN = 17592186044416 -- 2^44 arrivals per priority band

-- The fields a publisher needs, in the order Python reads them.
local function message_row(P, id, token)
  local f = redis.call('HMGET', job_key(P, id), 'action', 'params', 'priority', 'cq')
  return { id, tostring(token), f[1], f[2], f[3], f[4] or '' }
end

-- A stored envelope (first dispatch, token 1) re-issued under another token: the token
-- header and the delivery tag (kept unique per dispatch) are rewritten.
local function retoken(env, token)
  local out = string.gsub(env, '"actions_token": "1"', '"actions_token": "' .. token .. '"', 1)
  out = string.gsub(out, '"delivery_tag": "([^"]*)"', '"delivery_tag": "%1.' .. token .. '"', 1)
  return out
end

-- Give the job a new token and mark it waiting. With an envelope (the Redis broker fast
-- path: passed in, or stored in the record by enqueue for a scheduled or queued job, used
-- once) push the Celery message now; otherwise reserve an outbox entry and return a row
-- to publish: until the publisher confirms, the job stays in the scheduled set, due again
-- when the reservation lapses.
local function dispatch(P, S, id, reserved, out, env_key, env)
  local jk = job_key(P, id)
  local token = redis.call('HINCRBY', jk, 'token', 1)
  redis.call('HSET', jk, 'status', 'waiting', 'reason', '')
  if not env_key or env_key == '' then
    local f = redis.call('HMGET', jk, 'env_key', 'env')
    if f[1] then
      env_key, env = f[1], f[2]
      redis.call('HDEL', jk, 'env_key', 'env')
    end
  end
  if env_key and env_key ~= '' then
    if token ~= 1 then env = retoken(env, token) end
    redis.call('LPUSH', env_key, env)
    redis.call('ZREM', S, id) -- in the broker now: no longer due (nor an outbox entry)
  else
    redis.call('ZADD', S, reserved, id)
    out[#out + 1] = message_row(P, id, token)
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

local function touch_queue(P, QS, q, now)
  if redis.call('EXISTS', slots_key(P, q), waiting_key(P, q)) == 0 then
    redis.call('ZREM', QS, q)
  else
    redis.call('ZADD', QS, now, q)
  end
end

-- Admit waiting jobs of queue q while it has free slots (each job carries its limit).
local function admit(P, S, L, QS, q, now, reserved, slot_expiry, out)
  local wk, sk = waiting_key(P, q), slots_key(P, q)
  while true do
    local head = redis.call('ZRANGE', wk, 0, 0)
    if #head == 0 then break end
    local id = head[1]
    local jk = job_key(P, id)
    if redis.call('HGET', jk, 'status') ~= 'waiting' then
      redis.call('ZREM', wk, id) -- cancelled or expired while waiting
    else
      local limit = tonumber(redis.call('HGET', jk, 'limit')) or 1
      if redis.call('ZCARD', sk) >= limit then break end
      redis.call('ZREM', wk, id)
      redis.call('ZADD', sk, slot_expiry, id)
      redis.call('ZADD', L, slot_expiry, id)
      dispatch(P, S, id, reserved, out)
    end
  end
  touch_queue(P, QS, q, now)
end

-- Make a job ready to run: publish it now, or hold it in its queue's waiting set.
-- Returns false when it waits for a slot.
local function make_ready(P, S, L, QS, SEQ, id, now, reserved, slot_expiry, out, env_key, env)
  local jk = job_key(P, id)
  local q = redis.call('HGET', jk, 'queue')
  if q and q ~= '' then
    local sk = slots_key(P, q)
    if not redis.call('ZSCORE', sk, id) then
      local limit = tonumber(redis.call('HGET', jk, 'limit')) or 1
      local used = redis.call('ZCARD', sk)
      local wk = waiting_key(P, q)
      if used >= limit or redis.call('ZCARD', wk) > 0 then
        if not redis.call('ZSCORE', wk, id) then
          local band = BAND[redis.call('HGET', jk, 'priority')] or 1
          local seq = redis.call('INCR', SEQ)
          redis.call('ZADD', wk, band * BAND_SPAN + seq, id)
        end
        redis.call('ZREM', S, id)
        -- every earlier message of this job is stale now: none may claim it without a slot
        redis.call('HINCRBY', jk, 'token', 1)
        redis.call('HSET', jk, 'status', 'waiting', 'reason',
          'queue ' .. q .. ': ' .. used .. ' of ' .. limit .. ' slots in use')
        redis.call('ZADD', QS, now, q)
        -- a free slot with others already waiting: the head of the line goes first
        if used < limit then admit(P, S, L, QS, q, now, reserved, slot_expiry, out) end
        return redis.call('ZSCORE', sk, id) ~= false
      end
      redis.call('ZADD', sk, slot_expiry, id)
      redis.call('ZADD', L, slot_expiry, id)
      redis.call('ZADD', QS, now, q)
    end
  end
  dispatch(P, S, id, reserved, out, env_key, env)
  return true
end

-- Free the slot a job holds (if any) and admit the next waiting jobs of its queue.
-- q is the job's queue name when the caller has read it already.
local function release(P, S, L, QS, id, now, reserved, slot_expiry, out, q)
  redis.call('ZREM', L, id)
  if q == nil then q = redis.call('HGET', job_key(P, id), 'queue') end
  if q and q ~= '' then
    redis.call('ZREM', slots_key(P, q), id)
    admit(P, S, L, QS, q, now, reserved, slot_expiry, out)
  end
end

local function finish(P, id, status, now, retention_ms, reason)
  local jk = job_key(P, id)
  redis.call('HSET', jk, 'status', status, 'finished_at', now, 'reason', reason or '')
  redis.call('PEXPIRE', jk, retention_ms)
end

-- trim.lua: drop the index entries of finished actions whose records have expired (they
-- entered their status longer ago than its retention), a bounded number per call, and
-- forget the action and group names no record is indexed under any more. Run by every
-- worker's pump now and then; entries are ordered by time, so the oldest go first.
--
-- KEYS: none (index keys are built from the prefix and the names in ix:actions, ix:queues)
-- ARGV[1] key prefix   ARGV[2] completed retention ms   ARGV[3] failed retention ms
-- ARGV[4] entries removed per index at most   ARGV[5] names looked at per call at most
-- ARGV[6] action names cursor (rank)   ARGV[7] group names cursor (rank)
-- Returns { entries removed, next action cursor, next group cursor }
local P, completed_ms, failed_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local budget, names = tonumber(ARGV[4]), tonumber(ARGV[5])
local cursors = { tonumber(ARGV[6]), tonumber(ARGV[7]) }
local now = now_ms()
local cutoff = { complete = now - completed_ms, failed = now - failed_ms,
  cancelled = now - failed_ms }
local FINISHED = { 'complete', 'failed', 'cancelled' }
local STATUSES = { 'scheduled', 'waiting', 'running', 'retrying', 'complete', 'failed',
  'cancelled' }
local removed = 0

local function trim(key, status)
  local n = math.min(redis.call('ZCOUNT', key, '-inf', cutoff[status]), budget)
  if n > 0 then removed = removed + redis.call('ZREMRANGEBYRANK', key, 0, n - 1) end
end

for _, status in ipairs(FINISHED) do trim(status_index(P, status), status) end

-- the longest retention passed since a name's last enqueue, and nothing indexed under it
local forget_before = now - math.max(completed_ms, failed_ms) - 3600000
local registries = { { indexed_actions_key(P), action_index },
  { indexed_groups_key(P), group_index } }
local next_cursors = {}
for r, registry in ipairs(registries) do
  local key, index_of = registry[1], registry[2]
  local found = redis.call('ZRANGE', key, cursors[r], cursors[r] + names - 1, 'WITHSCORES')
  for i = 1, #found, 2 do
    local name, last = found[i], tonumber(found[i + 1])
    for _, status in ipairs(FINISHED) do trim(index_of(P, status, name), status) end
    if last < forget_before then
      local keys = {}
      for _, status in ipairs(STATUSES) do keys[#keys + 1] = index_of(P, status, name) end
      if redis.call('EXISTS', unpack(keys)) == 0 then redis.call('ZREM', key, name) end
    end
  end
  next_cursors[r] = (#found < 2 * names) and 0 or cursors[r] + names
end
return { removed, next_cursors[1], next_cursors[2] }

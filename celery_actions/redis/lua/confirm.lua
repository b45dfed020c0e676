-- confirm.lua: the broker has the messages; drop their outbox reservations.
-- Only an entry still at the reserved score is removed: if the job meanwhile ran and
-- scheduled a retry, that entry (another score) stays.
--
-- KEYS[1] scheduled zset
-- ARGV[1] reserved score   ARGV[2..] ids
local S, reserved = KEYS[1], tonumber(ARGV[1])
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', S, id)
  if score and tonumber(score) == reserved then
    redis.call('ZREM', S, id)
    removed = removed + 1
  end
end
return removed

-- queue_admin.lua: an operator changes a named queue (a concurrency group). 'limit' sets
-- its limit (kept in queue_overrides, it wins over the maxConcurrency of enqueues until
-- 'unlimit'); 'pause' admits nothing more (running actions finish; the limit reads as 0);
-- 'resume' admits again. Waiting actions that now fit are admitted in the same call.
--
-- KEYS[1] scheduled zset   KEYS[2] leases zset   KEYS[3] groups zset   KEYS[4] limits hash
-- KEYS[5] seq counter
-- ARGV[1] key prefix   ARGV[2] group name   ARGV[3] 'limit' | 'unlimit' | 'pause' | 'resume'
-- ARGV[4] the limit (for 'limit')   ARGV[5] outbox reservation ms
-- ARGV[6] dispatch timeout ms   ARGV[7] token nonce
-- Returns { 'ok', reserved, { message rows to publish } }
local P, group, op, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local c = context(P, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[7])
if op == 'limit' then
  redis.call('HSET', overrides_key(P), group, tonumber(limit))
elseif op == 'unlimit' then
  redis.call('HDEL', overrides_key(P), group)
elseif op == 'pause' then
  redis.call('HSET', paused_key(P), group, c.now)
elseif op == 'resume' then
  redis.call('HDEL', paused_key(P), group)
end
if redis.call('EXISTS', waiting_key(P, group)) == 1 then admit(c, group) end
return { 'ok', c.reserved, c.out }

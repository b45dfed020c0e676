-- ratelimit.lua: take n enqueues from the leaky bucket, or say how long to wait.
-- Used by enqueue_many to admit a whole batch (or none of it) before writing any of it.
--
-- KEYS[1] rate-limit bucket hash
-- ARGV[1] rate per ms   ARGV[2] capacity   ARGV[3] n
-- Returns 0 when admitted, else the ms to wait.
local bucket = KEYS[1]
local rate_per_ms, capacity, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
return take_from_bucket(bucket, rate_per_ms, capacity, n, now_ms())

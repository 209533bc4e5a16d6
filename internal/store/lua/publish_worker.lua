-- publish_worker: a worker's settings and state, stamped with the Redis clock (Store.PublishWorker).
-- KEYS[1]  KeyWorkers
-- ARGV[1]  the worker's ID
-- ARGV[2]  its settings and state (JSON)
-- returns  the stamp (ms)
local now = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2])
return now

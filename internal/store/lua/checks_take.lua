-- checks_take: a worker takes status checks that came due, to enqueue them (Store.TakeChecks).
-- KEYS[1] KeyChecks
-- ARGV[1] now (ms)  ARGV[2] at most this many checks  ARGV[3] the lease (ms)
-- Each check taken is due again a lease from now: if its taker dies before it enqueued the check
-- and removed it (Store.DoneChecks), the next taker takes it.
-- returns  the checks taken, as stored
local now = tonumber(ARGV[1])
local out = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local again = now + tonumber(ARGV[3])
for _, c in ipairs(out) do redis.call('ZADD', KEYS[1], again, c) end
return out

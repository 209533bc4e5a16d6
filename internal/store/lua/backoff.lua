-- backoff: the next step of the shared backoff (Store.Backoff, Store.OutageBackoff). A failure
-- while a pause is on belongs to the same round and does not lengthen it.
-- KEYS[1]  KeyPause
-- KEYS[2]  KeyPauseRuns
-- KEYS[3]  KeyProbe
-- ARGV[1]  reason
-- ARGV[2]  base (ms)
-- ARGV[3]  ceiling (ms)
-- ARGV[4]  jitter, 0 to 0.2
-- ARGV[5]  fixed (ms): when above 0, the first round waits base and every later round exactly this
--          (an outage: one probe per round); 0: base doubled per round up to the ceiling, with jitter
-- returns  the pause in force (ms)
redis.call('DEL', KEYS[3])
local cur = redis.call('PTTL', KEYS[1])
if cur > 0 then return cur end
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], N_PAUSE_RUNS_TTL_MS)
local d
if tonumber(ARGV[5]) > 0 then
  d = tonumber(ARGV[5])
  if n == 1 then d = tonumber(ARGV[2]) end
else
  d = tonumber(ARGV[2]) * 2 ^ math.min(n - 1, 30)
  d = math.min(d, tonumber(ARGV[3]))
  d = math.floor(d * (1 + tonumber(ARGV[4])))
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', d)
return d

-- pause: make every worker wait; only ever lengthens a pause (Store.Pause).
-- KEYS[1]  KeyPause
-- KEYS[2]  KeyProbe
-- KEYS[3]  KeyPauseRuns
-- ARGV[1]  reason
-- ARGV[2]  the pause (ms)
-- returns  0
redis.call('DEL', KEYS[2])
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], N_PAUSE_RUNS_TTL_MS)
local cur = redis.call('PTTL', KEYS[1])
if cur < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 0

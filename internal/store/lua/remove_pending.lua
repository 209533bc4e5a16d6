-- remove_pending: remove entries whose request tasks were enqueued, and record in each URL's
-- history the task that holds it (Store.RemovePending).
-- KEYS[1]  KeyPending
-- KEYS[2]  KeySources
-- KEYS[N_REMOVE_FIXED+i]  HistoryKey of entry i
-- ARGV[1]  history TTL (ms)
-- ARGV[2..] per entry, N_REMOVE_PER values: canonical key, request time (ms), task ID
-- returns  0. An entry whose score is no longer its request time is left alone (sent again later).
-- Sources are deleted only when there are any (an HDEL per URL on an empty hash was a seventh of
-- the script's Redis time, measured by BenchmarkBatcherStep).
local ttl = ARGV[1]
local sources = redis.call('HLEN', KEYS[2]) > 0
for i = N_REMOVE_FIXED + 1, #KEYS do
  local a = 2 + (i - N_REMOVE_FIXED - 1) * N_REMOVE_PER
  local sc = redis.call('ZSCORE', KEYS[1], ARGV[a])
  if sc and math.floor(tonumber(sc)) == tonumber(ARGV[a + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[a])
    if sources then redis.call('HDEL', KEYS[2], ARGV[a]) end
    redis.call('HSET', KEYS[i], F_Q, ARGV[a + 1], F_TASK, ARGV[a + 2])
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 0

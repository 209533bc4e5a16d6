-- remove_pending: remove entries whose request tasks were enqueued, and record in each URL's
-- history the task that holds it (Store.RemovePending).
-- KEYS[1]  KeyPending
-- KEYS[2]  KeySources
-- KEYS[N_REMOVE_FIXED+..] per entry, 1+N_REMOVE_BUCKETS keys: HistoryKey, then HistoryEpochKeys of
--          the epochs around now (a send of the task may already be recorded: then no queued record)
-- ARGV[1]  history TTL (ms)
-- ARGV[2..] per entry, N_REMOVE_PER values: canonical key, request time (ms), task ID, HistoryField
-- returns  0. An entry whose score is no longer its request time is left alone (sent again later).
-- Sources are deleted only when there are any (an HDEL per URL on an empty hash was a seventh of
-- the script's Redis time, measured by BenchmarkBatcherStep).
-- The scores are read with one ZMSCORE (Redis 6.2 and later; ZSCORE per entry before), and the
-- entries go in one ZREM and one HDEL: two commands per entry fewer than one of each per entry.
local ttl = ARGV[1]
local sources = redis.call('HLEN', KEYS[2]) > 0
local per = 1 + N_REMOVE_BUCKETS
local n = (#KEYS - N_REMOVE_FIXED) / per
local members = {}
for e = 1, n do members[e] = ARGV[2 + (e - 1) * N_REMOVE_PER] end
local ok, scores = pcall(redis.call, 'ZMSCORE', KEYS[1], unpack(members))
if not ok then
  scores = {}
  for e = 1, n do scores[e] = redis.call('ZSCORE', KEYS[1], members[e]) end
end
local gone = {}
for e = 1, n do
  local k = N_REMOVE_FIXED + (e - 1) * per
  local a = 2 + (e - 1) * N_REMOVE_PER
  local sc = scores[e]
  if sc and math.floor(tonumber(sc)) == tonumber(ARGV[a + 1]) then
    gone[#gone + 1] = ARGV[a]
    local covered = false
    for b = 1, N_REMOVE_BUCKETS do
      local s, r = hrec_get(KEYS[k + 1 + b], ARGV[a + 3])
      if s and r >= tonumber(ARGV[a + 1]) then covered = true; break end
    end
    if not covered then
      redis.call('HSET', KEYS[k + 1], F_Q, ARGV[a + 1], F_TASK, ARGV[a + 2])
      redis.call('PEXPIRE', KEYS[k + 1], ttl)
    end
  end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  if sources then redis.call('HDEL', KEYS[2], unpack(gone)) end
end
return 0

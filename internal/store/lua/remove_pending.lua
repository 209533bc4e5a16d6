-- remove_pending: remove entries whose request tasks were enqueued, and record the task that
-- holds each URL (Store.RemovePending).
-- KEYS[1]  KeyPending
-- KEYS[2]  KeySources
-- KEYS[3]  KeyQueued
-- ARGV[1]  history TTL (ms)
-- ARGV[2..] per entry, N_REMOVE_PER values: canonical key, request time (ms), task ID
-- returns  0. An entry whose score is no longer its request time is left alone (sent again later).
-- Every write is one command per call, not per entry: the queued records go into one hash
-- (KeyQueued) with one HSET, not into a hash per URL (a new key and its TTL per URL were two
-- thirds of the batcher step's Redis time, measured by BenchmarkBatcherStep).
-- A send recorded before this runs (its task ran first) hides the record: History compares it.
-- Sources are deleted only when there are any (an HDEL per URL on an empty hash was a seventh of
-- the script's Redis time, measured by BenchmarkBatcherStep).
-- The scores are read with one ZMSCORE (Redis 6.2 and later; ZSCORE per entry before).
local ttl = ARGV[1]
local sources = redis.call('HLEN', KEYS[2]) > 0
local n = (#ARGV - 1) / N_REMOVE_PER
local members = {}
for e = 1, n do members[e] = ARGV[2 + (e - 1) * N_REMOVE_PER] end
local ok, scores = pcall(redis.call, 'ZMSCORE', KEYS[1], unpack(members))
if not ok then
  scores = {}
  for e = 1, n do scores[e] = redis.call('ZSCORE', KEYS[1], members[e]) end
end
local gone, queued = {}, {}
for e = 1, n do
  local a = 2 + (e - 1) * N_REMOVE_PER
  local sc = scores[e]
  if sc and math.floor(tonumber(sc)) == tonumber(ARGV[a + 1]) then
    gone[#gone + 1] = ARGV[a]
    queued[#queued + 1] = ARGV[a]
    queued[#queued + 1] = ARGV[a + 1] .. ' ' .. ARGV[a + 2]
  end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  if sources then redis.call('HDEL', KEYS[2], unpack(gone)) end
  redis.call('HSET', KEYS[3], unpack(queued))
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 0

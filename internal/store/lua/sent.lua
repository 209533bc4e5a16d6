-- sent: record URLs the API accepted in one request (Store.Sent); ends an outage's backoff.
-- KEYS[1]  KeyStats
-- KEYS[2]  SentSecondKey of the second of the send
-- KEYS[3]  CallsSecondKey of that second
-- KEYS[4]  KeyPauseRuns
-- KEYS[5]  KeyProbe
-- KEYS[N_SENT_FIXED+2i-1]  HistoryKey of URL i (its queued task, a failure's reason, an earlier version's history)
-- KEYS[N_SENT_FIXED+2i]    HistoryEpochKey of URL i in the epoch of the send
-- ARGV[1]  the request time the send covered (ms)
-- ARGV[2]  when the send was admitted (ms)
-- ARGV[3]  the invalidation's uuid
-- ARGV[4]  when the buckets expire (Unix ms: the epoch's end plus the history TTL)
-- ARGV[5]  how long the per-second counters live (s)
-- ARGV[5+i] HistoryField of URL i
-- returns  how many URLs it recorded
local n = (#KEYS - N_SENT_FIXED) / 2
local req, sent = tonumber(ARGV[1]), tonumber(ARGV[2])
local uuid, packed = uuid_pack(ARGV[3])
for i = 1, n do
  local old, bk, f = KEYS[N_SENT_FIXED + 2 * i - 1], KEYS[N_SENT_FIXED + 2 * i], ARGV[5 + i]
  local cur = hrec_get(bk, f)
  if not cur or sent > cur then hrec_put(bk, f, ST_CODE[S_SENT], sent, req, uuid, packed) end
  redis.call('PEXPIREAT', bk, ARGV[4])
  -- The per-URL hash is kept only for what this send does not cover: a later queued request.
  local osent, q = unpack(redis.call('HMGET', old, F_SENT, F_Q))
  if tonumber(osent or '0') < sent then
    if tonumber(q or '0') <= req then
      redis.call('DEL', old)
    else
      redis.call('HDEL', old, F_REQ, F_SENT, F_UUID, F_ST, F_WHY)
    end
  end
end
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('HINCRBY', KEYS[1], F_STAT_URLS, n)
redis.call('HINCRBY', KEYS[1], F_STAT_CALLS, 1)
redis.call('DEL', KEYS[4], KEYS[5])
return n

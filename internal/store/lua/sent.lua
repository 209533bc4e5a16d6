-- sent: record URLs the API accepted in one request (Store.Sent); ends an outage's backoff.
-- KEYS[1]  KeyStats
-- KEYS[2]  SentSecondKey of the second of the send
-- KEYS[3]  CallsSecondKey of that second
-- KEYS[4]  KeyPauseRuns
-- KEYS[5]  KeyProbe
-- KEYS[N_SENT_FIXED+i]  HistoryKey of URL i
-- ARGV[1]  the request time the send covered (ms)
-- ARGV[2]  when the send was admitted (ms)
-- ARGV[3]  the invalidation's uuid
-- ARGV[4]  history TTL (ms)
-- ARGV[5]  how long the per-second counters live (s)
-- returns  how many URLs it recorded
local n = #KEYS - N_SENT_FIXED
for i = N_SENT_FIXED + 1, #KEYS do
  local cur = tonumber(redis.call('HGET', KEYS[i], F_SENT) or '0')
  if tonumber(ARGV[2]) > cur then
    redis.call('HSET', KEYS[i], F_REQ, ARGV[1], F_SENT, ARGV[2], F_UUID, ARGV[3], F_ST, S_SENT)
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('HINCRBY', KEYS[1], F_STAT_URLS, n)
redis.call('HINCRBY', KEYS[1], F_STAT_CALLS, 1)
redis.call('DEL', KEYS[4], KEYS[5])
return n

-- sent: record URLs the API accepted in one request (Store.Sent); ends an outage's backoff.
-- The call's uuid goes once in the epoch's call table; each URL's record names the call.
-- A bucket or call table gets its expiry when this creates it (F_HB_TTL, F_HC_NEXT), not at each send.
-- KEYS[1]  KeyStats
-- KEYS[2]  SentSecondKey of the second of the send
-- KEYS[3]  CallsSecondKey of that second
-- KEYS[4]  KeyPauseRuns
-- KEYS[5]  KeyProbe
-- KEYS[6]  HistoryCallsKey of the epoch of the send
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
local ck = KEYS[N_SENT_FIXED]
local call = 0
if n > 0 then
  call = redis.call('HINCRBY', ck, F_HC_NEXT, 1)
  if call == 1 then redis.call('PEXPIREAT', ck, ARGV[4]) end
  local uuid, packed = uuid_pack(ARGV[3])
  hcall_put(ck, call, ST_CODE[S_SENT], n, sent, uuid, packed, '')
end
-- The per-URL hashes are read only when one of them exists: one EXISTS a call, not one HMGET a URL.
local anyold = false
if n > 0 then
  local olds = {}
  for i = 1, n do olds[i] = KEYS[N_SENT_FIXED + 2 * i - 1] end
  anyold = redis.call('EXISTS', unpack(olds)) > 0
end
for i = 1, n do
  local old, bk, f = KEYS[N_SENT_FIXED + 2 * i - 1], KEYS[N_SENT_FIXED + 2 * i], ARGV[5 + i]
  local v, ttl = unpack(redis.call('HMGET', bk, f, F_HB_TTL))
  local cur = hrec_read(bk, v)
  if not cur or sent > cur then
    local rec = hrec_enc(bk, nil, sent, req, call)
    if ttl then
      redis.call('HSET', bk, f, rec)
    else
      redis.call('HSET', bk, f, rec, F_HB_TTL, 1)
      redis.call('PEXPIREAT', bk, ARGV[4])
    end
  end
  -- The per-URL hash is kept only for what this send does not cover: a later queued request.
  -- With none of its fields there is no hash to delete.
  if anyold then
    local osent, q, why, task, st = unpack(redis.call('HMGET', old, F_SENT, F_Q, F_WHY, F_TASK, F_ST))
    if (osent or q or why or task or st) and tonumber(osent or '0') < sent then
      if tonumber(q or '0') <= req then
        redis.call('DEL', old)
      else
        redis.call('HDEL', old, F_REQ, F_SENT, F_UUID, F_ST, F_WHY)
      end
    end
  end
end
-- A per-second counter gets its expiry when this send creates it: its value is then this send's.
if redis.call('INCRBY', KEYS[2], n) == n then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], ARGV[5]) end
redis.call('HINCRBY', KEYS[1], F_STAT_URLS, n)
redis.call('HINCRBY', KEYS[1], F_STAT_CALLS, 1)
redis.call('DEL', KEYS[4], KEYS[5])
return n

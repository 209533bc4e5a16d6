-- prefix_sent: record prefixes the API accepted (Store.PrefixSent): every later Admit drops the
-- URLs and prefixes under them requested before the send. Keeps both sets bounded.
-- KEYS[1]  KeyPrefixSent     prefix key -> when its last send was admitted (ms)
-- KEYS[2]  KeyPrefixWaiting  prefix key -> its first request (ms), while not sent
-- ARGV[1]  when the send was admitted (ms)
-- ARGV[2]  the request time the send covered (ms)
-- ARGV[3]  how long a send is kept (ms): the history TTL
-- ARGV[4..] prefix keys
-- returns  how many prefixes KeyPrefixSent holds
local sent, req = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 4, #ARGV do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not cur or tonumber(cur) < sent then redis.call('ZADD', KEYS[1], sent, ARGV[i]) end
  local w = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if w and tonumber(w) <= req then redis.call('ZREM', KEYS[2], ARGV[i]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (sent - tonumber(ARGV[3])))
local n = redis.call('ZCARD', KEYS[1])
if n > N_PREFIXES_KEPT then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - N_PREFIXES_KEPT - 1)
  n = N_PREFIXES_KEPT
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now_ms() - N_PREFIX_WAIT_MS))
return n

-- prefix_waiting: record prefixes requested and not sent yet (Store.PrefixRequested), so that a
-- prefix under one of them collapses into it; or forget them (Store.PrefixGone).
-- KEYS[1]  KeyPrefixWaiting  prefix key -> its first request (ms), while not sent
-- ARGV[1]  1: requested now (kept when already there); 0: gone (dead-lettered, or covered)
-- ARGV[2..] prefix keys
-- returns  0
local now = now_ms()
for i = 2, #ARGV do
  if ARGV[1] == '1' then
    redis.call('ZADD', KEYS[1], 'NX', now, ARGV[i])
  else
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - N_PREFIX_WAIT_MS))
return 0

-- add_pending: request the invalidation of canonical keys (Store.AddPending).
-- KEYS[1]  KeyPending  ZSET canonical key -> request time (ms)
-- KEYS[2]  KeySources  HASH canonical key -> free-text source
-- ARGV[1]  source ('' for none)
-- ARGV[2..] canonical keys
-- returns  one integer per key: 1 added, 0 already pending (its earlier request covers this one)
local now = now_ms()
local src = ARGV[1]
local res = {}
for i = 2, #ARGV do
  local n = redis.call('ZADD', KEYS[1], 'NX', now, ARGV[i])
  res[i - 1] = n
  if n == 1 and src ~= '' then redis.call('HSET', KEYS[2], ARGV[i], src) end
end
return res

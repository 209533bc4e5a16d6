-- add_pending: request the invalidation of canonical keys (Store.AddPending).
-- KEYS[1]  KeyPending  ZSET canonical key -> request time (ms)
-- KEYS[2]  KeySources  HASH canonical key -> free-text source
-- ARGV[1]  source ('' for none)
-- ARGV[2..] canonical keys
-- returns  one integer per key: 1 added, 0 already pending (its earlier request covers this one,
--          or the same key earlier in ARGV)
-- It reads the keys with one ZMSCORE and adds the new ones with one ZADD (and one HSET of their
-- source): three commands a call, not one or two a key. ZMSCORE needs Redis 6.2; before, it
-- falls back to a ZADD NX a key.
local now = now_ms()
local src = ARGV[1]
local keys = {}
for i = 2, #ARGV do keys[i - 1] = ARGV[i] end
local res = {}
local ok, scores = pcall(redis.call, 'ZMSCORE', KEYS[1], unpack(keys))
if not ok then
  for i, k in ipairs(keys) do
    res[i] = redis.call('ZADD', KEYS[1], 'NX', now, k)
    if res[i] == 1 and src ~= '' then redis.call('HSET', KEYS[2], k, src) end
  end
  return res
end
local add, srcs, seen = {}, {}, {}
for i, k in ipairs(keys) do
  res[i] = 0
  if not scores[i] and not seen[k] then
    seen[k] = true
    res[i] = 1
    add[#add + 1] = now
    add[#add + 1] = k
    srcs[#srcs + 1] = k
    srcs[#srcs + 1] = src
  end
end
if #add > 0 then
  redis.call('ZADD', KEYS[1], 'NX', unpack(add))
  if src ~= '' then redis.call('HSET', KEYS[2], unpack(srcs)) end
end
return res

-- all_sent: record a flush-all the API accepted and drop the pending requests it covered
-- (Store.AllSent).
-- KEYS[1]  KeyAll
-- KEYS[2]  KeyPending
-- KEYS[3]  KeySources
-- KEYS[4]  KeyStats
-- ARGV[1]  when the flush-all was admitted (ms)
-- ARGV[2]  its uuid
-- ARGV[3]  the request time (ms) of the flush-all task: its confirmation is used up
-- returns  how many pending requests it dropped
redis.call('HSET', KEYS[1], F_ALL_SENT, ARGV[1], F_ALL_UUID, ARGV[2])
redis.call('HDEL', KEYS[1], F_ALL_CONFIRMED .. ARGV[3], F_ALL_INFLIGHT .. ARGV[3])
local m = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for i = 1, #m do
  redis.call('ZREM', KEYS[2], m[i])
  redis.call('HDEL', KEYS[3], m[i])
end
redis.call('HINCRBY', KEYS[4], F_STAT_DROPPED, #m)
return #m

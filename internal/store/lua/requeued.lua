-- requeued: URLs of a split request task now wait in another task (Store.Requeued).
-- KEYS[1]  KeyQueued
-- KEYS[2..] HistoryKey of each URL (an earlier version kept the queued task there)
-- ARGV[1]  the new request task's ID
-- ARGV[2..] the canonical key of each URL, in the order of KEYS[2..]
-- returns  0
for i = 2, #KEYS do
  local q = redis.call('HGET', KEYS[1], ARGV[i])
  if q then redis.call('HSET', KEYS[1], ARGV[i], string.match(q, '^%S+') .. ' ' .. ARGV[1]) end
  if redis.call('HEXISTS', KEYS[i], F_Q) == 1 then redis.call('HSET', KEYS[i], F_TASK, ARGV[1]) end
end
return 0

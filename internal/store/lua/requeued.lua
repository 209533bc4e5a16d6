-- requeued: URLs of a split request task now wait in another task (Store.Requeued).
-- KEYS[1..] HistoryKey of each URL
-- ARGV[1]  the new request task's ID
-- returns  0
for i = 1, #KEYS do
  if redis.call('HEXISTS', KEYS[i], F_Q) == 1 then redis.call('HSET', KEYS[i], F_TASK, ARGV[1]) end
end
return 0

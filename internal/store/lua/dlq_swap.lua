-- dlq_swap: replace or forget one dead letter's record, and set its mark, only if the record is
-- still the one the caller read (Store.ReconcileDeadLetters), so that a record the worker wrote in
-- the meantime (the task failed again) is left alone.
-- KEYS[1]  KeyDeadLetters
-- KEYS[2]  KeyDeadIndex
-- KEYS[3]  KeyDeadMarks
-- ARGV[1]  task ID
-- ARGV[2]  the record as read ('': there was none)
-- ARGV[3]  the new record ('': forget it, with its mark)
-- ARGV[4]  the new record's time (ms): its score in the index
-- ARGV[5]  the mark to leave on it ('': none)
-- returns  1 when done, 0 when the record changed since it was read
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
end
return 1

-- dlq_trim: raise the time up to which asynq trimmed a queue's archive (Store.NoteArchiveTrim);
-- it never goes back.
-- KEYS[1]  KeyDeadTrim
-- ARGV[1]  queue
-- ARGV[2]  time (ms): asynq's trim removed, or is about to remove, the entries archived until then
-- returns  the queue's time after the call (ms)
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local at = tonumber(ARGV[2])
if at > cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return at
end
return cur

-- mark: set the state of URLs whose last send was one invalidation (Store.MarkState, MarkDead).
-- KEYS[1..] HistoryKey of each URL
-- ARGV[1]  the invalidation's uuid ('': mark whatever the last send was)
-- ARGV[2]  the state (a State* of the schema)
-- ARGV[3]  why
-- ARGV[4]  history TTL (ms)
-- ARGV[5]  the request task the URLs are in ('': leave F_TASK as it is); MarkDead names the
--          dead-lettered task, the ID `enqueue dlq replay` takes
-- returns  0
for i = 1, #KEYS do
  local cur = redis.call('HGET', KEYS[i], F_UUID)
  if ARGV[1] == '' or cur == ARGV[1] then
    redis.call('HSET', KEYS[i], F_ST, ARGV[2], F_WHY, ARGV[3])
    if ARGV[5] ~= '' then redis.call('HSET', KEYS[i], F_TASK, ARGV[5]) end
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
  end
end
return 0

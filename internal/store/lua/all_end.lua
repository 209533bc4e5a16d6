-- all_end: record how a flush-all attempt that got no 2xx ended (Store.AllRefused,
-- Store.AllUnknown, Store.AllDone).
-- KEYS[1]  KeyAll
-- ARGV[1]  the request time (ms) of the flush-all task
-- ARGV[2]  "refused": the API said it did not act (a status, a refused connection): the request may
--          be tried again; "unknown": no answer that says (timeout, torn answer); "done": the task
--          ends without a send (dead-lettered): its confirmation is used up
-- returns  when the attempt began (ms) for "unknown", else 0
local k, req = KEYS[1], ARGV[1]
if ARGV[2] == 'unknown' then return all_unknown(k, req) or 0 end
redis.call('HDEL', k, F_ALL_INFLIGHT .. req)
if ARGV[2] == 'done' then redis.call('HDEL', k, F_ALL_CONFIRMED .. req) end
return 0

-- all_end: record how a flush-all attempt that got no 2xx ended, or how its task ended
-- (Store.AllRefused, Store.AllUnknown, Store.AllDone).
-- KEYS[1]  KeyAll
-- ARGV[1]  the request time (ms) of the flush-all task
-- ARGV[2]  E_ALL_REFUSED (AllEndRefused): the API said it did not act (a status, a refused connection): the request may
--          be tried again; E_ALL_UNKNOWN: no answer that says (timeout, torn answer); E_ALL_DONE: the task
--          ends without a send (dead-lettered, or covered by a later flush-all): its confirmation is
--          used up, and an attempt still recorded in flight (its outcome was never recorded) becomes
--          one with an unknown outcome instead of being forgotten
-- returns  when the attempt began (ms) for E_ALL_UNKNOWN, and for E_ALL_DONE when it found one in flight;
--          else 0
local k, req = KEYS[1], ARGV[1]
if ARGV[2] == E_ALL_UNKNOWN then return all_unknown(k, req) or 0 end
if ARGV[2] == E_ALL_DONE then
  local at = all_unknown(k, req)
  redis.call('HDEL', k, F_ALL_CONFIRMED .. req)
  return at or 0
end
redis.call('HDEL', k, F_ALL_INFLIGHT .. req)
return 0

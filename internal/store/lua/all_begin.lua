-- all_begin: decide whether a flush-all may be sent now, and if so record that an attempt is in
-- flight before the call (Store.AllBegin). An attempt that began and recorded no outcome (the
-- worker died or was stopped mid-call) makes the outcome unknown: it is never sent again by itself.
-- KEYS[1]  KeyAll
-- ARGV[1]  the request time (ms) of the flush-all task
-- returns  {A_GO, now} | {A_UNCONFIRMED, 0} | {A_UNKNOWN, when the unknown attempt began (ms)}
local k, req = KEYS[1], ARGV[1]
local at = redis.call('HGET', k, F_ALL_UNKNOWN .. req)
if at then return {A_UNKNOWN, tonumber(at)} end
at = all_unknown(k, req)
if at then return {A_UNKNOWN, at} end
if redis.call('HEXISTS', k, F_ALL_CONFIRMED .. req) == 0 then return {A_UNCONFIRMED, 0} end
local now = now_ms()
redis.call('HSET', k, F_ALL_INFLIGHT .. req, now)
return {A_GO, now}

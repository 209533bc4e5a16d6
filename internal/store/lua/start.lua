-- start: may a call the limiter admitted start now (Store.Start)? The GCRA reserves send times;
-- this counts the starts themselves, in a sliding second. A call woken late keeps its
-- reservation, and no 1-s window holds more than the cap, however the late ones bunch.
-- KEYS[1]  KeyPause   reason; its PTTL is the shared pause, which outranks a reservation
-- KEYS[2]  KeyStarts  (or KeyStartsPrefix) the starts of the last second; none: only the pause
-- ARGV[1]  cap: the most starts any 1-s window may hold
-- ARGV[2]  a member unique to this call
-- returns  {wait (ms; 0: started, and counted), pause left (ms; 0: none), pause reason}
local now = now_ms()
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return {0, left, redis.call('GET', KEYS[1]) or ''} end
if #KEYS < 2 then return {0, 0, ''} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {math.max(tonumber(first[2]) + 1000 - now, 1), 0, ''}
end
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], 2000)
return {0, 0, ''}

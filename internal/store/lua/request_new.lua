-- request_new: open a request record, or return the one its idempotency key made (Store.OpenRequest).
-- KEYS[1] RequestKey(id)  KEYS[2] KeyRequests  KEYS[3] RequestIdemKey(k), or absent
-- ARGV[1] id  ARGV[2] "1" done means confirmed, "0" sent  ARGV[3] callback  ARGV[4] TTL (ms)
-- ARGV[5] the account, "" for the account default
-- The record has no URL yet and stays open (never done) until request_grow ends it.
-- returns  {id, 1} when made, {existing id, 0} when the idempotency key already made one
if KEYS[3] then
  local had = redis.call('GET', KEYS[3])
  if had then return {had, 0} end
end
local now = now_ms()
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], F_REQ_TOTAL, 0, F_REQ_AT, now, F_REQ_CONFIRM, ARGV[2], S_REQ_WAITING, 0, F_REQ_OPEN, '1')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], F_REQ_CB, ARGV[3]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], F_REQ_ACCT, ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ttl)
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl) end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -N_REQ_KEPT - 1)
return {ARGV[1], 1}

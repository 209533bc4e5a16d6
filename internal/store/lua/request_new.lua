-- request_new: make a request record, or return the one its idempotency key made (Store.NewRequest).
-- KEYS[1] RequestKey(id)  KEYS[2] KeyRequests  KEYS[3] RequestIdemKey(k), or absent
-- ARGV[1] id  ARGV[2] URLs  ARGV[3] "1" done means confirmed, "0" sent  ARGV[4] callback
-- ARGV[5] sample  ARGV[6] TTL (ms)
-- returns  {id, 1} when made, {existing id, 0} when the idempotency key already made one
if KEYS[3] then
  local had = redis.call('GET', KEYS[3])
  if had then return {had, 0} end
end
local now = now_ms()
local ttl = tonumber(ARGV[6])
redis.call('HSET', KEYS[1], F_REQ_TOTAL, ARGV[2], F_REQ_AT, now, F_REQ_CONFIRM, ARGV[3], S_REQ_WAITING, ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], F_REQ_CB, ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], F_REQ_SAMPLE, ARGV[5]) end
if tonumber(ARGV[2]) == 0 then redis.call('HSET', KEYS[1], F_REQ_DONE, now) end
redis.call('PEXPIRE', KEYS[1], ttl)
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl) end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -N_REQ_KEPT - 1)
return {ARGV[1], 1}

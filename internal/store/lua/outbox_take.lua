-- outbox_take: a worker takes webhook events to enqueue their deliveries (Store.TakeOutbox).
-- KEYS[1] KeyOutbox  KEYS[2] KeyOutboxTaken
-- ARGV[1] at most this many events  ARGV[2] the lease (ms)
-- Events taken longer than a lease ago come first: their worker died, or could not enqueue them.
-- Then the oldest events of the outbox. Each is marked taken now.
-- returns  the events taken
local n, now = tonumber(ARGV[1]), now_ms()
local out = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, n)
while #out < n do
  local ev = redis.call('LPOP', KEYS[1])
  if not ev then break end
  out[#out + 1] = ev
end
for _, ev in ipairs(out) do redis.call('ZADD', KEYS[2], now, ev) end
return out

-- lease: take or renew a lease (Store.Lease).
-- KEYS[1]  the lease key (KeyBatcher)
-- ARGV[1]  owner
-- ARGV[2]  time to live (ms)
-- returns  1 if the owner holds the lease now, 0 if another does
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0

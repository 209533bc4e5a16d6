-- release: give up a lease if the owner holds it (Store.Release).
-- KEYS[1]  the lease key
-- ARGV[1]  owner
-- returns  0
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0

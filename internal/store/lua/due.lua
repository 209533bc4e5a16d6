-- due: the pending entries ready to be sent, oldest first, without removing them (Store.DueEntries).
-- KEYS[1]  KeyPending
-- KEYS[2]  KeyRate
-- ARGV[1]  window (ms): every request waits at least this long
-- ARGV[2]  max delay (ms): a partial batch waits at most this long
-- ARGV[3]  batch size
-- ARGV[4]  most entries to return (a multiple of the batch size)
-- ARGV[5]  1: nothing formed waits to be sent (spare); 0: not known
-- ARGV[6]  emission interval (ms; 0: no rate limit)
-- ARGV[7]  burst
-- returns  {now_ms, key1, score1, key2, score2, ...}: whole batches, plus the remainder when
--          nothing younger waits to join it, it has waited the max delay, or it has waited 1.25
--          windows while spare and the rate limit would let a call through now
local now = now_ms()
local window, maxdelay, batch, maxclaim = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cutoff = now - window
local e = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, maxclaim)
local n = #e / 2
local take = n - (n % batch)
if take < n then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if tonumber(newest[2]) <= cutoff or tonumber(e[2 * take + 2]) <= now - maxdelay then take = n end
end
if take < n and ARGV[5] == '1' and tonumber(e[2 * take + 2]) <= now - window - window / 4 then
  local emission, burst = tonumber(ARGV[6]), tonumber(ARGV[7])
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if emission == 0 or tat <= now + (burst - 1) * emission then take = n end
end
local out = {now}
for i = 1, take * 2 do out[i + 1] = e[i] end
return out

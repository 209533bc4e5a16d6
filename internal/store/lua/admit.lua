-- admit: when may a request be sent (Store.Admit)? Drops URLs already satisfied, then applies the
-- shared pause, the outage probe, the priority rule and the GCRA rate limit, in that order. The
-- rate limit reserves: a call that may go within the horizon is counted and told how long to wait
-- (V_GO with a wait); one that would wait longer is not counted (V_THROTTLED).
-- KEYS[1]  KeyRate       GCRA theoretical arrival time (ms)
-- KEYS[2]  KeyPause      reason; its PTTL is the shared pause
-- KEYS[3]  KeyHot        set while an interactive request waits for the limiter (KeyHotPrefix for
--          P_PREFIX and P_PREFIX_BULK: an interactive prefix waits for the prefix budget)
-- KEYS[4]  KeyAll        the flush-all record
-- KEYS[5]  KeyPauseRuns  set while an outage's backoff has not seen a success
-- KEYS[6]  KeyProbe      held by the one request that probes the API after an outage
-- KEYS[7]  KeyRateStatus GCRA theoretical arrival time (ms) of status checks (P_STATUS), or
--          KeyRatePrefix, that of prefix requests (P_PREFIX, P_PREFIX_BULK): the budget of a priority of its own
-- KEYS[8]  KeyPrefixSent    prefix key -> when its last send was admitted (ms)
-- KEYS[9]  KeyPrefixWaiting prefix key -> its first request (ms), while not sent
-- KEYS[N_ADMIT_FIXED+..]  per URL, 1+ARGV[7] keys: its HistoryKey, then its HistoryEpochKeys
--          from the epoch of the request on, newest first (none: a call that names no URL)
-- ARGV[1]  the request time the URLs cover (ms)
-- ARGV[2]  priority (P_INTERACTIVE, P_BACKGROUND; P_STATUS: its own limit, never yields; P_PREFIX,
--          P_PREFIX_BULK: the prefix budget, the bulk one yields to the interactive one)
-- ARGV[3]  emission interval (ms; 0: no rate limit)
-- ARGV[4]  burst
-- ARGV[5]  probe lease (ms)
-- ARGV[6]  horizon (ms): the longest wait a reservation may have
-- ARGV[7]  buckets per URL
-- ARGV[7+i] HistoryField of URL i
-- returns  {verdict (V_*), wait (ms), now (ms), reason (V_PAUSED; V_YIELD to a waiting prefix), dropped(URL 1), ...}:
--          per URL 0 live, 1 satisfied (dropped), 2 held by a waiting prefix that covers it
local now = now_ms()
local req = tonumber(ARGV[1])
local prio = tonumber(ARGV[2])
local emission = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local horizon = tonumber(ARGV[6])
local allsent = tonumber(redis.call('HGET', KEYS[4], F_ALL_SENT) or '0')
local drops = {}
local live = 0
local nb = tonumber(ARGV[7])
local folder = prio == P_PREFIX or prio == P_PREFIX_BULK
local nsent = redis.call('ZCARD', KEYS[8])
-- under(u, z, after, self): a prefix in z whose score is above after and whose folder holds u
-- (u itself too when self). One ZSCORE per "/" of u.
local function under(u, z, after, self)
  local start = 1
  while true do
    local j = string.find(u, '/', start, true)
    if not j then return nil end
    local p = string.sub(u, 1, j) .. '*'
    if self or p ~= u then
      local sc = redis.call('ZSCORE', z, p)
      if sc and tonumber(sc) > after then return p end
    end
    start = j + 1
  end
end
-- The per-URL hashes hold a send only when an earlier version wrote it. So they are read only
-- when one of them exists: one EXISTS a call, not one HGET a URL.
local nurl = (#KEYS - N_ADMIT_FIXED) / (1 + nb)
local olds = {}
for i = 1, nurl do olds[i] = KEYS[N_ADMIT_FIXED + (i - 1) * (1 + nb) + 1] end
local anyold = nurl > 0 and redis.call('EXISTS', unpack(olds)) > 0
for i = 1, nurl do
  local base = N_ADMIT_FIXED + (i - 1) * (1 + nb)
  local s = 0
  if anyold then s = tonumber(redis.call('HGET', KEYS[base + 1], F_SENT) or '0') end
  for b = 1, nb do
    if s > req then break end
    local bs = hrec_get(KEYS[base + 1 + b], ARGV[7 + i])
    if bs and bs > s then s = bs end
  end
  if s <= req and allsent <= req and nsent > 0 and under(hkey_url(KEYS[base + 1]), KEYS[8], req, true) then s = req + 1 end
  if s > req or allsent > req then drops[i] = 1 else drops[i] = 0; live = live + 1 end
end
local function reply(code, wait, reason)
  local out = {code, wait, now, reason}
  for i = 1, #drops do out[4 + i] = drops[i] end
  return out
end
if #KEYS > N_ADMIT_FIXED and live == 0 then return reply(V_SATISFIED, 0, '') end
-- A URL or a prefix under a prefix that waits to be sent is held (drop code 2): the prefix's send
-- will cover it. With nothing else left, the call yields. A wait older than N_PREFIX_WAIT_MS
-- holds nothing back.
if live > 0 and redis.call('ZCARD', KEYS[9]) > 0 then
  local held
  for i = 1, #drops do
    if drops[i] == 0 then
      local base = N_ADMIT_FIXED + (i - 1) * (1 + nb)
      local p = under(hkey_url(KEYS[base + 1]), KEYS[9], now - N_PREFIX_WAIT_MS, false)
      if p then drops[i] = 2; live = live - 1; held = held or p end
    end
  end
  if held and live == 0 then
    local w = N_HOLD_MS
    if folder then w = math.max(emission, N_HOLD_MS) end
    return reply(V_YIELD, w, 'prefix ' .. held .. ' covers it and waits to be sent')
  end
end
local p = redis.call('PTTL', KEYS[2])
if p > 0 then return reply(V_PAUSED, p, redis.call('GET', KEYS[2]) or '') end
if prio == P_BACKGROUND or prio == P_PREFIX_BULK then
  local h = redis.call('PTTL', KEYS[3])
  if h > 0 then return reply(V_YIELD, math.min(h, N_RECHECK_MS), '') end
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  if not redis.call('SET', KEYS[6], '1', 'NX', 'PX', ARGV[5]) then
    return reply(V_PAUSED, N_RECHECK_MS, 'after an outage one request probes the API; the others wait for its answer')
  end
end
local wait = 0
if emission > 0 then
  local rk = KEYS[1]
  if prio == P_STATUS or folder then rk = KEYS[7] end
  local tat = tonumber(redis.call('GET', rk) or '0')
  if tat < now then tat = now end
  local newtat = tat + emission
  local allow = newtat - burst * emission
  if allow > now then wait = math.ceil(allow - now) end
  -- An interactive prefix that waits is snoozed: it comes back up to seconds late, so its mark
  -- outlives its wait by N_HOLD_MS, lest a bulk prefix take its turn.
  if prio == P_INTERACTIVE and wait > 0 then redis.call('SET', KEYS[3], '1', 'PX', wait + N_RECHECK_MS) end
  if prio == P_PREFIX and wait > 0 then redis.call('SET', KEYS[3], '1', 'PX', wait + N_HOLD_MS) end
  if wait > horizon then
    redis.call('DEL', KEYS[6])
    return reply(V_THROTTLED, wait, '')
  end
  redis.call('SET', rk, tostring(newtat), 'PX', math.ceil(newtat - now) + 1000)
end
return reply(V_GO, wait, '')

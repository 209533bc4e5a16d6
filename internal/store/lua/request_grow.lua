-- request_grow: add URLs to an open request, or end it (Store.AddToRequest).
-- KEYS[1] RequestKey(id)  KEYS[2] KeyRequestLinks  KEYS[3] KeyOutbox  KEYS[4] KeyOutboxEvents
-- ARGV[1] id  ARGV[2] "1": the request ends  ARGV[3] "1": link each URL to the request (the
-- pending set's URLs; a bulk request's tasks carry its ID instead)  ARGV[4] the links' TTL (ms)
-- ARGV[5..] canonical keys
-- returns  {done, i...}: done 1 when the request became done; i the indexes (1-based, of
--          ARGV[5..]) of the keys that already count for N_REQ_PER_URL requests: they count for
--          none of this one, which does not count them. An expired request is left alone.
-- A request done here gets its done event in the outbox: when it has a callback, or when
-- KeyOutboxEvents says a worker has a default receiver.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local out = {0}
local n = #ARGV - 4
if ARGV[3] == '1' then
  -- The links are read with one HMGET and written with one HSET per chunk of URLs, not one
  -- command each. A URL named twice sees what the first pass wrote (newval), as it would
  -- reading back.
  local word = ARGV[1] .. ':' .. S_LINK_WAITING
  local CHUNK = 500
  local newval = {}
  for c0 = 5, #ARGV, CHUNK do
    local c1 = math.min(c0 + CHUNK - 1, #ARGV)
    local curs = redis.call('HMGET', KEYS[2], unpack(ARGV, c0, c1))
    local sets = {}
    for i = c0, c1 do
      local v = newval[ARGV[i]] or curs[i - c0 + 1]
      local words = 0
      if v then for _ in string.gmatch(v, '%S+') do words = words + 1 end end
      if words >= N_REQ_PER_URL then
        out[#out + 1] = i - 4
        n = n - 1
      else
        if v then v = v .. ' ' .. word else v = word end
        newval[ARGV[i]] = v
        sets[#sets + 1] = ARGV[i]
        sets[#sets + 1] = v
      end
    end
    if #sets > 0 then redis.call('HSET', KEYS[2], unpack(sets)) end
  end
  if #ARGV >= 5 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[1], F_REQ_TOTAL, n)
  redis.call('HINCRBY', KEYS[1], S_REQ_WAITING, n)
  local smp = redis.call('HGET', KEYS[1], F_REQ_SAMPLE)
  local have = {}
  if smp then for u in string.gmatch(smp, '[^\n]+') do have[#have + 1] = u end end
  local skip = {}
  for j = 2, #out do skip[out[j] + 4] = true end
  for i = 5, #ARGV do
    if #have >= N_REQ_SAMPLE then break end
    if not skip[i] then have[#have + 1] = ARGV[i] end
  end
  if #have > 0 then redis.call('HSET', KEYS[1], F_REQ_SAMPLE, table.concat(have, '\n')) end
end
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], F_REQ_OPEN)
  if req_move(KEYS[1], '', S_REQ_WAITING, false, 0) then
    out[1] = 1
    local ev = tonumber(redis.call('GET', KEYS[4]) or '0')
    if ev ~= N_EVENTS_ALL then ev = N_EVENTS_CALLBACK end
    outbox_add(KEYS[3], KEYS[1], ev, S_OUT_DONE, ARGV[1], nil)
  end
end
return out

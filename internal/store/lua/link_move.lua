-- link_move: URLs move from one state to another for every request they count for
-- (Store.MoveURLs): the open requests KeyRequestLinks links them to, and the requests of their task.
-- It appends each event of a request (done, a URL dead) to the webhook outbox, in this same write.
-- KEYS[1] KeyRequestLinks  KEYS[2] KeyOutbox  KEYS[3] KeyQueued
-- KEYS[4..3+ARGV[7]] RequestKey of each request of the task
-- KEYS[4+ARGV[7]..] RequestKey of each linked request ARGV names (in that order)
-- ARGV[1] from state ('' any: waiting or sent)  ARGV[2] to state  ARGV[3] "1": also count a resend
-- ARGV[4] "1": the link stays, with to's code (to is waiting or sent); "0": it goes (an end state)
-- ARGV[5] "1": the task's requests become links of each URL, with to's code (ARGV[4] is "1")
-- ARGV[6] "1": done means sent for the requests moved (PURGE_CONFIRM=false)
-- ARGV[7] task requests T  ARGV[8] URLs U  ARGV[9] linked requests R
-- ARGV[10] the events to append (Events): 0 none, N_EVENTS_CALLBACK, N_EVENTS_ALL
-- ARGV[11] a send's request time (ms; 0 none): the URLs' KeyQueued records no later than it go
-- ARGV[12..11+T] the task's request IDs; then U canonical keys; then R request IDs, in the order
-- of their KEYS: the requests the caller expects the URLs' links to name
-- returns  {done, dead, changed, dropped, unknown}: done the request IDs that became done; with
--          to dead, dead the pairs request ID, canonical key of each URL dead for a request;
--          changed the indexes (1-based) of the URLs whose links name a request not in KEYS:
--          left alone, to move again with its key; dropped the outbox's oldest events the appends
--          pushed out (OutboxMax); unknown those requests' IDs
-- The caller reads no link first: it passes the requests it saw last, and a miss costs a second
-- call for the URLs it skipped, not a read of every link.
local from, to, resent, keep, adopt, sentdone = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4] == '1', ARGV[5] == '1', ARGV[6] == '1'
local nt, nu, nr, events = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local A, K = 12, 4 -- the first ARGV after the fixed ones; the first KEYS of a request
local code = {[S_LINK_WAITING] = S_REQ_WAITING, [S_LINK_SENT] = S_REQ_SENT}
local tocode = S_LINK_WAITING
if to == S_REQ_SENT then tocode = S_LINK_SENT end
local keyof = {}
for t = 1, nt do keyof[ARGV[A - 1 + t]] = KEYS[K - 1 + t] end
for j = 1, nr do keyof[ARGV[A - 1 + nt + nu + j]] = KEYS[K - 1 + nt + j] end
local done, dead, changed, moved, dropped, unknown, missing = {}, {}, {}, {}, 0, {}, {}
-- Moves are summed per request and state, then made once each: a request of 15,000 URLs costs
-- a few commands per call, not per URL.
local counts, order, live = {}, {}, {}
local function exists(k)
  if live[k] == nil then live[k] = redis.call('EXISTS', k) == 1 end
  return live[k]
end
-- outbox(k, c, id, url) appends event c of request id (key k) when events asks for it.
local function outbox(k, c, id, url)
  dropped = dropped + outbox_add(KEYS[2], k, events, c, id, url)
end
-- deadfor notes url dead for request id (key k), and its event.
local function deadfor(k, id, url)
  dead[#dead + 1] = id
  dead[#dead + 1] = url
  outbox(k, S_OUT_DEAD, id, url)
end
local function move(k, id, st, n)
  if sentdone and exists(k) then redis.call('HSET', k, F_REQ_CONFIRM, '0') end
  if req_move(k, st, to, resent, n) then
    done[#done + 1] = id
    outbox(k, S_OUT_DONE, id, nil)
  end
end
-- The links are read with one HMGET and written with one HSET and one HDEL per chunk of URLs,
-- not one command each. A URL named twice sees what the first pass wrote (newval), as it would
-- reading back.
local CHUNK = 500
local newval, touched = {}, {}
for c0 = 1, nu, CHUNK do
  local c1 = math.min(c0 + CHUNK - 1, nu)
  local names = {}
  for u = c0, c1 do names[#names + 1] = ARGV[A - 1 + nt + u] end
  local curs = redis.call('HMGET', KEYS[1], unpack(names))
  for u = c0, c1 do
    local url = ARGV[A - 1 + nt + u]
    local cur = newval[url] or curs[u - c0 + 1] or ''
    -- A link that names a request whose key is not here is left alone, and its ID returned.
    local ws, known = {}, true
    for w in string.gmatch(cur, '%S+') do
      local id, c = string.match(w, '^(.+):(%a)$')
      local st = code[c]
      if st and (from == '' or st == from) then
        if not keyof[id] then
          known = false
          if not missing[id] then
            missing[id] = true
            unknown[#unknown + 1] = id
          end
        end
        ws[#ws + 1] = {w, id, st}
      else
        ws[#ws + 1] = {w}
      end
    end
    if not known then
      changed[#changed + 1] = u
    else
      moved[#moved + 1] = url
      local words = {}
      for _, x in ipairs(ws) do
        local w, id, st = x[1], x[2], x[3]
        if st then
          local ck = id .. ' ' .. st
          if not counts[ck] then
            counts[ck] = 0
            order[#order + 1] = {id, st}
          end
          counts[ck] = counts[ck] + 1
          if to == S_REQ_DEAD and exists(keyof[id]) then deadfor(keyof[id], id, url) end
          if keep then words[#words + 1] = id .. ':' .. tocode end
        else
          words[#words + 1] = w
        end
      end
      if adopt then
        for t = 1, nt do words[#words + 1] = ARGV[A - 1 + t] .. ':' .. tocode end
      end
      if #words > 0 or cur ~= '' then
        if newval[url] == nil then touched[#touched + 1] = url end
        newval[url] = table.concat(words, ' ')
      end
    end
  end
end
local sets, dels = {}, {}
for _, url in ipairs(touched) do
  if newval[url] ~= '' then
    sets[#sets + 1] = url
    sets[#sets + 1] = newval[url]
  else
    dels[#dels + 1] = url
  end
end
for i = 1, #sets, 2 * CHUNK do redis.call('HSET', KEYS[1], unpack(sets, i, math.min(i + 2 * CHUNK - 1, #sets))) end
for i = 1, #dels, CHUNK do redis.call('HDEL', KEYS[1], unpack(dels, i, math.min(i + CHUNK - 1, #dels))) end
-- The queued records a send covers go: one HMGET and one HDEL per chunk of URLs.
local covers = tonumber(ARGV[11])
if covers > 0 then
  for c0 = 1, nu, CHUNK do
    local names = {}
    for u = c0, math.min(c0 + CHUNK - 1, nu) do names[#names + 1] = ARGV[A - 1 + nt + u] end
    local qs, gone = redis.call('HMGET', KEYS[3], unpack(names)), {}
    for j, q in ipairs(names) do
      if qs[j] and tonumber(string.match(qs[j], '^%d+')) <= covers then gone[#gone + 1] = q end
    end
    if #gone > 0 then redis.call('HDEL', KEYS[3], unpack(gone)) end
  end
end
for _, o in ipairs(order) do
  local id, st = o[1], o[2]
  move(keyof[id], id, st, counts[id .. ' ' .. st])
end
if from ~= '' and #moved > 0 then
  for t = 1, nt do
    local id, k = ARGV[A - 1 + t], KEYS[K - 1 + t]
    -- A request with no URL left in from (a repeated move, or one expired) has no event. The
    -- dead URLs' events go before the request's done event.
    if to == S_REQ_DEAD and tonumber(redis.call('HGET', k, from) or '0') > 0 then
      for _, url in ipairs(moved) do deadfor(k, id, url) end
    end
    move(k, id, from, #moved)
  end
end
return {done, dead, changed, dropped, unknown}

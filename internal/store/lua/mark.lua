-- mark: set the state of URLs whose last send was one invalidation (Store.MarkState, MarkDead),
-- each URL apart: a URL's own state, which wins over its call's (mark_call marks a whole call).
-- KEYS[1..]  ARGV[6] keys: the call tables (HistoryCallsKey) of the epochs of the buckets below, in their order
-- KEYS[..] then per URL, 1+ARGV[6] keys: its HistoryKey, then its HistoryEpochKeys over the TTL, newest first
-- ARGV[1]  the invalidation's uuid ('': mark whatever the last send was)
-- ARGV[2]  the state (a State* of the schema)
-- ARGV[3]  why
-- ARGV[4]  history TTL (ms)
-- ARGV[5]  the request task the URLs are in ('': leave F_TASK as it is); MarkDead names the
--          dead-lettered task, the ID `enqueue dlq replay` takes
-- ARGV[6]  buckets per URL
-- ARGV[6+i] HistoryField of URL i
-- returns  0. The reason and the task, rare, go in the per-URL hash; the state in the record.
local nb = tonumber(ARGV[6])
local want, wantpacked = uuid_pack(ARGV[1])
local per = 1 + nb
local calls = {}
-- ours(b, call, sent): the call of a record in bucket position b is the invalidation ARGV[1].
local function ours(b, call, sent)
  local id = b .. ' ' .. call
  if calls[id] == nil then
    local _, _, csent, uuid, packed = hcall_get(KEYS[b], call)
    calls[id] = csent ~= nil and uuid == want and packed == wantpacked and csent
  end
  return calls[id] == sent
end
for i = 1, (#KEYS - nb) / per do
  local base = nb + (i - 1) * per
  local old, f = KEYS[base + 1], ARGV[6 + i]
  local osv, owhy = unpack(redis.call('HMGET', old, F_SENT, F_WHY))
  local osent = tonumber(osv or '0')
  local found, marked = false, false
  for b = 1, nb do
    local bk = KEYS[base + 1 + b]
    local sent, req, call, _, uuid, packed = hrec_get(bk, f)
    if sent then
      if sent > osent then
        found = true
        if call then
          if ARGV[1] == '' or ours(b, call, sent) then
            redis.call('HSET', bk, f, hrec_enc(bk, ST_CODE[ARGV[2]], sent, req, call))
            marked = true
          end
        elseif ARGV[1] == '' or (uuid == want and packed == wantpacked) then
          hrec_put(bk, f, ST_CODE[ARGV[2]], sent, req, uuid, packed)
          marked = true
        end
      end
      break
    end
  end
  if not found then
    -- an earlier version's history, or a URL never sent (dead-lettered)
    local cur = redis.call('HGET', old, F_UUID)
    if ARGV[1] == '' or cur == ARGV[1] then
      redis.call('HSET', old, F_ST, ARGV[2], F_WHY, ARGV[3])
      if ARGV[5] ~= '' then redis.call('HSET', old, F_TASK, ARGV[5]) end
      redis.call('PEXPIRE', old, ARGV[4])
    end
  elseif marked then
    if ARGV[3] ~= '' or ARGV[5] ~= '' then
      redis.call('HSET', old, F_WHY, ARGV[3])
      if ARGV[5] ~= '' then redis.call('HSET', old, F_TASK, ARGV[5]) end
      redis.call('PEXPIRE', old, ARGV[4])
    elseif owhy then
      redis.call('HDEL', old, F_WHY)
    end
  end
end
return 0

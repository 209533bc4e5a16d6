-- mark_call: set the state of one API call, once, for every URL whose last send it was
-- (Store.MarkState of all the call's URLs). A URL sent again later names its newer call, so
-- this mark does not reach it. The call is found through the record of the first URL.
-- KEYS[1..]  n keys (half of KEYS): the call tables (HistoryCallsKey) of the epochs of the buckets below, in their order
-- KEYS[n+1..2n] the first URL's HistoryEpochKeys over the TTL, newest first
-- ARGV[1]  the invalidation's uuid
-- ARGV[2]  the state (a State* of the schema)
-- ARGV[3]  why
-- ARGV[4]  how many URLs are marked: the call must have as many
-- ARGV[5]  HistoryField of the first URL
-- returns  1 if it marked the call; 0 if the URLs must be marked each apart (mark)
local nb = #KEYS / 2
local want, wantpacked = uuid_pack(ARGV[1])
for b = 1, nb do
  local sent, _, call = hrec_get(KEYS[nb + b], ARGV[5])
  if sent then
    if not call then return 0 end
    local code, n, csent, uuid, packed, _, own = hcall_get(KEYS[b], call)
    if not code or csent ~= sent or uuid ~= want or packed ~= wantpacked or n ~= tonumber(ARGV[4]) then return 0 end
    hcall_put(KEYS[b], call, ST_CODE[ARGV[2]], n, sent, uuid, packed, ARGV[3], own)
    return 1
  end
end
return 0

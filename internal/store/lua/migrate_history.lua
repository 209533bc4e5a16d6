-- migrate_history: move fields of an hourly history bucket of version 000c5df into the epoch
-- buckets (Store.MigrateHistory). A field is moved, then deleted; the hash goes with its last field.
-- KEYS[1]  an hourly bucket (HistoryBucketKey)
-- KEYS[1+i] the HistoryEpochKey that takes field i
-- ARGV[1]  when the hourly bucket expires (Unix ms): an epoch bucket that takes a record lives at least as long
-- ARGV[1+i] field i (HistoryField)
-- returns  how many records it moved
local now = now_ms()
local moved = 0
for i = 2, #ARGV do
  local f, nk = ARGV[i], KEYS[i]
  local v = redis.call('HGET', KEYS[1], f)
  -- the old record: state code, sent ms (13 digits), ' ', sent-req, ' ', uuid
  local sp = v and string.find(v, ' ', 16, true)
  if sp then
    local sent = tonumber(string.sub(v, 2, 14))
    local req = sent - tonumber(string.sub(v, 16, sp - 1))
    local cur = hrec_get(nk, f)
    if not cur or sent > cur then
      local uuid, packed = uuid_pack(string.sub(v, sp + 1))
      hrec_put(nk, f, string.sub(v, 1, 1), sent, req, uuid, packed)
    end
    local left = redis.call('PTTL', nk)
    if left < 0 or now + left < tonumber(ARGV[1]) then redis.call('PEXPIREAT', nk, ARGV[1]) end
    moved = moved + 1
  end
  redis.call('HDEL', KEYS[1], f)
end
return moved

-- request_move: one URL of each request moves from one state to another (Store.MoveRequests).
-- KEYS[1..] RequestKey of each request the URL counts for
-- ARGV[1] from state ('' for none)  ARGV[2] to state  ARGV[3] "1": also count a resend
-- A request with no URL left in the from state is left alone (a repeated move).
-- returns  the IDs' indexes (1-based) of the requests that became done by this move
local done = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local from = 1
  if ARGV[1] ~= '' then from = tonumber(redis.call('HGET', k, ARGV[1]) or '0') end
  if redis.call('EXISTS', k) == 1 and from > 0 then
    if ARGV[1] ~= '' then redis.call('HINCRBY', k, ARGV[1], -1) end
    redis.call('HINCRBY', k, ARGV[2], 1)
    if ARGV[3] == '1' then redis.call('HINCRBY', k, S_REQ_RESENT, 1) end
    local w, s, cf, d = unpack(redis.call('HMGET', k, S_REQ_WAITING, S_REQ_SENT, F_REQ_CONFIRM, F_REQ_DONE))
    local open = tonumber(w or '0')
    if cf == '1' then open = open + tonumber(s or '0') end
    if open <= 0 and not d then
      redis.call('HSET', k, F_REQ_DONE, now_ms())
      done[#done + 1] = i
    end
  end
end
return done

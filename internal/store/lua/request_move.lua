-- request_move: one URL of each request moves from one state to another (Store.MoveRequests).
-- KEYS[1..] RequestKey of each request the URL counts for
-- ARGV[1] from state ('' for none)  ARGV[2] to state  ARGV[3] "1": also count a resend
-- A request with no URL left in the from state is left alone (a repeated move).
-- returns  the IDs' indexes (1-based) of the requests that became done by this move
local done = {}
for i = 1, #KEYS do
  if req_move(KEYS[i], ARGV[1], ARGV[2], ARGV[3] == '1', 1) then done[#done + 1] = i end
end
return done

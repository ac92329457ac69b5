-- POST /v1/file_links file=<a linkable file>, each with an Idempotency-Key of its own, as
-- stripe-python and stripe-node send with every POST they may retry: the key is claimed, then
-- answered. The keys of one run differ from any other run's (a key is kept 24 hours).
math.randomseed(os.time() + os.clock() * 1e6)
local run = tostring(math.random(1, 1000000000))
local n = 0
local body = "file=" .. os.getenv("BENCH_FILE")
request = function()
  n = n + 1
  local headers = {}
  for name, value in pairs(FORM) do headers[name] = value end
  headers["Idempotency-Key"] = "bench-" .. run .. "-" .. tid .. "-" .. n
  return wrk.format("POST", "/v1/file_links", headers, body)
end

-- Prepended to every scenario script by bench/common.py (wrk takes one script).
-- Settings come from the environment: BENCH_KEY, BENCH_IDS, BENCH_FILE, BENCH_TOKEN, ...

local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do
    items[#items + 1] = item
  end
  return items
end

KEY = os.getenv("BENCH_KEY") or "sk_test_bench"
IDS = split(os.getenv("BENCH_IDS"))
AUTH = { ["Authorization"] = "Bearer " .. KEY }
FORM = {
  ["Authorization"] = "Bearer " .. KEY,
  ["Content-Type"] = "application/x-www-form-urlencoded",
}

-- setup() runs in the main Lua state once per wrk thread; each thread gets its number so
-- counter-based bodies stay distinct across threads.
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
      .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end

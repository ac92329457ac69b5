-- A mix for the memory run: retrieve, list, create, update, download, round robin.
local n = 0
local file = os.getenv("BENCH_FILE")
local token = os.getenv("BENCH_TOKEN")
request = function()
  n = n + 1
  local id = IDS[(n % #IDS) + 1]
  local kind = n % 5
  if kind == 0 then
    return wrk.format("GET", "/v1/file_links/" .. id, AUTH)
  elseif kind == 1 then
    return wrk.format("GET", "/v1/file_links?limit=100", AUTH)
  elseif kind == 2 then
    return wrk.format("POST", "/v1/file_links", FORM, "file=" .. file)
  elseif kind == 3 then
    local body = "metadata%5Bk" .. (n % 8) .. "%5D=v" .. tid .. "_" .. n
    return wrk.format("POST", "/v1/file_links/" .. id, FORM, body)
  else
    return wrk.format("GET", "/links/" .. token)
  end
end

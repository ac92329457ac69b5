-- GET /v1/file_links/{id}, rotating over the seeded links (the floor app runs it too).
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/file_links/" .. IDS[(n % #IDS) + 1], AUTH)
end

-- POST /v1/file_links/{id} metadata[kN]=<counter>: rotating over the seeded links; the key
-- cycles through 8 names (a link keeps at most 8 keys, Stripe's limit is 50) and every value
-- is distinct, so each request really writes.
local n = 0
request = function()
  n = n + 1
  local id = IDS[(n % #IDS) + 1]
  local body = "metadata%5Bk" .. (n % 8) .. "%5D=v" .. tid .. "_" .. n
  return wrk.format("POST", "/v1/file_links/" .. id, FORM, body)
end

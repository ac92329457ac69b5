-- POST /v1/file_links file=<a linkable file>.
wrk.method = "POST"
wrk.path = "/v1/file_links"
wrk.body = "file=" .. os.getenv("BENCH_FILE")
for name, value in pairs(FORM) do wrk.headers[name] = value end

-- POST /v1/files: a prebuilt multipart body (BENCH_BODY_FILE) with its boundary.
local fp = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.body = fp:read("*a")
fp:close()
wrk.method = "POST"
wrk.path = "/v1/files"
wrk.headers["Authorization"] = AUTH["Authorization"]
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. os.getenv("BENCH_BOUNDARY")

-- GET /links/{token}: the public URL, no authentication.
wrk.method = "GET"
wrk.path = "/links/" .. os.getenv("BENCH_TOKEN")

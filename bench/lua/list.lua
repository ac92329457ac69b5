-- GET /v1/file_links?limit=100 (the account holds more than 100 links).
wrk.method = "GET"
wrk.path = "/v1/file_links?limit=100"
wrk.headers["Authorization"] = AUTH["Authorization"]

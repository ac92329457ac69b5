"""The framework floor: a minimal FastAPI app returning a constant file_link for
GET /v1/file_links/{id}, served like `filelinks-api serve` serves (uvicorn, httptools, uvloop,
no access log, the same keep-alive and worker count).

    python bench/floor_app.py --port 8000 --workers 2 [--kind dict|bytes]

`dict` (the default floor) returns a dict that FastAPI serializes; `bytes` returns
pre-serialized JSON in a Response, the cheaper floor of perf-anchors.md.
"""

from __future__ import annotations

import argparse
import json
import os

import uvicorn
from fastapi import FastAPI
from starlette.responses import Response

LINK = {
    "id": "link_1QbenchFloorConstant0000",
    "object": "file_link",
    "created": 1_800_000_000,
    "expired": False,
    "expires_at": None,
    "file": "file_1QbenchFloorConstant0000",
    "livemode": False,
    "metadata": {"order_id": "6735"},
    "url": "http://127.0.0.1:12111/links/bench-floor-token-0000000000000000000000000",
}
LINK_BYTES = json.dumps(LINK, indent=2).encode()

app = FastAPI()

if os.environ.get("BENCH_FLOOR_KIND", "dict") == "bytes":

    @app.get("/v1/file_links/{link_id}")
    async def retrieve_bytes(link_id: str) -> Response:
        return Response(LINK_BYTES, media_type="application/json")

else:

    @app.get("/v1/file_links/{link_id}")
    async def retrieve(link_id: str) -> dict[str, object]:
        return LINK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kind", choices=["dict", "bytes"], default="dict")
    args = parser.parse_args()
    os.environ["BENCH_FLOOR_KIND"] = args.kind  # read again by each spawned worker
    uvicorn.run(
        "floor_app:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        http="httptools",
        loop="uvloop",
    )


if __name__ == "__main__":
    main()

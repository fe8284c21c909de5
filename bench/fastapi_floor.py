"""The framework floor: FastAPI under uvicorn, configured as the API is (httptools, uvloop,
no access log, proxy headers on), with one route answering fixed JSON bytes: no middleware,
no identity, no Redis. What any FastAPI route costs on this machine before it does anything,
to read the cached view's CPU against. Run as ``python bench/fastapi_floor.py PORT``.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Response

BODY = b'{"id":"1","status":"DONE","progress":100}'

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/floor")
async def floor() -> Response:
    return Response(BODY, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )

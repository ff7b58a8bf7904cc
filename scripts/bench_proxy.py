"""The baseline for "added latency": a bare aiohttp pass-through that forwards the POS's estimate
body to the simulator's payments/cashback with the key headers and hands the answer back, with
no validation, cache, budget or logging. Run by scripts/bench.py as a process of its own.

Usage: python scripts/bench_proxy.py UPSTREAM_BASE_URL PORT"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

upstream, port = sys.argv[1], int(sys.argv[2])
session_key = web.AppKey("session", aiohttp.ClientSession)
HEADERS = {"APIKey": "bench-api-key", "SecretKey": "bench-secret-key"}


async def forward(request: web.Request) -> web.Response:
    async with request.app[session_key].post(
        f"{upstream}/integrations/payments/cashback", data=await request.read(), headers=HEADERS
    ) as answer:
        payload = await answer.read()
        return web.Response(body=payload, status=answer.status, content_type=answer.content_type)


async def client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        app[session_key] = session
        yield


app = web.Application()
app.cleanup_ctx.append(client)
app.router.add_post("/v1/estimate-points", forward)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)

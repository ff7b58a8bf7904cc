"""The baseline for "added latency": a bare aiohttp pass-through that forwards the POS's estimate
body to the simulator's payments/cashback with the key headers and hands the answer back, with
no validation, cache, budget or logging. Run by the benchmark as a process of its own.

Usage: python -m scripts.benchmarks.proxy UPSTREAM_BASE_URL PORT"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

session_key = web.AppKey("session", aiohttp.ClientSession)
upstream_key = web.AppKey("upstream", str)
HEADERS = {"APIKey": "bench-api-key", "SecretKey": "bench-secret-key"}


async def forward(request: web.Request) -> web.Response:
    async with request.app[session_key].post(
        f"{request.app[upstream_key]}/integrations/payments/cashback",
        data=await request.read(),
        headers=HEADERS,
    ) as answer:
        payload = await answer.read()
        return web.Response(body=payload, status=answer.status, content_type=answer.content_type)


async def client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        app[session_key] = session
        yield


def main(upstream: str, port: int) -> None:
    app = web.Application()
    app[upstream_key] = upstream
    app.cleanup_ctx.append(client)
    app.router.add_post("/v1/estimate-points", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

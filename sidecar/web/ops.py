"""Handlers for store IT and monitoring: the outbox by hand, status (JSON and the page),
metrics, the OpenAPI document, liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from ..checkout.models import discard_decoder
from .edge import json_response, read_json
from .keys import metrics_key, outbox_view_key, status_key
from .openapi import build_openapi
from .params import SEGMENT, int_param
from .statuspage import render

ops_routes = web.RouteTableDef()


@ops_routes.get("/v1/outbox")
async def outbox_list(request: web.Request) -> web.Response:
    query = request.query
    items = await request.app[outbox_view_key].listing(
        state=query.get("state"),
        customer_id=query.get("customerId"),
        outcome=query.get("outcome"),
        limit=int_param(query.get("limit"), "limit", 100, 1, 1000),
        after_id=int_param(query.get("afterId"), "afterId", 0, 0, 2**62),
    )
    return json_response({"items": items})


@ops_routes.get("/v1/outbox/{id:" + SEGMENT + "}")
async def outbox_show(request: web.Request) -> web.Response:
    item_id = int_param(request.match_info["id"], "id", 0, 1, 2**62)
    return json_response(await request.app[outbox_view_key].show(item_id))


@ops_routes.post("/v1/outbox/{id:" + SEGMENT + "}/retry")
async def outbox_retry(request: web.Request) -> web.Response:
    item_id = int_param(request.match_info["id"], "id", 0, 1, 2**62)
    item = await request.app[outbox_view_key].retry(item_id)
    return json_response(item)


@ops_routes.post("/v1/outbox/{id:" + SEGMENT + "}/discard")
async def outbox_discard(request: web.Request) -> web.Response:
    item_id = int_param(request.match_info["id"], "id", 0, 1, 2**62)
    body = await read_json(request, discard_decoder)
    item = await request.app[outbox_view_key].discard(item_id, body.reason)
    return json_response(item)


@ops_routes.get("/v1/status")
async def status(request: web.Request) -> web.Response:
    return json_response(await request.app[status_key].report())


@ops_routes.get("/status")
async def status_page(request: web.Request) -> web.Response:
    page = render(await request.app[status_key].report())
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


@ops_routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    request.app[metrics_key].observe(await request.app[status_key].report())
    body, content_type = request.app[metrics_key].exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


@ops_routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(build_openapi())


@ops_routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@ops_routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[status_key].readiness()
    return json_response(readiness, status=200 if readiness.ready else 503)

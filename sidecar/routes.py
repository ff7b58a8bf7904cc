"""Thin handlers for the local API: decode, one component call, encode."""

from __future__ import annotations

from aiohttp import web

from .balances import Balances
from .estimates import Estimator
from .holds import Holds
from .http import json_response, path_value, read_json
from .models import estimate_decoder, hold_decoder
from .status import Status

routes = web.RouteTableDef()

estimator_key = web.AppKey("estimator", Estimator)
holds_key = web.AppKey("holds", Holds)
balances_key = web.AppKey("balances", Balances)
status_key = web.AppKey("status", Status)


@routes.post("/v1/estimate-points")
async def estimate_points(request: web.Request) -> web.Response:
    estimate = await read_json(request, estimate_decoder)
    answer = await request.app[estimator_key].estimate(estimate)
    return json_response(answer)


@routes.post("/v1/hold-and-redeem")
async def hold_and_redeem(request: web.Request) -> web.Response:
    hold = await read_json(request, hold_decoder)
    answer = await request.app[holds_key].hold(hold)
    return json_response(answer)


@routes.get("/v1/holds/{holdReference}")
async def hold_status(request: web.Request) -> web.Response:
    reference = path_value(request, "holdReference")
    answer = await request.app[holds_key].status(reference)
    return json_response(answer)


@routes.get("/v1/customers/{customerId}/balance")
async def customer_balance(request: web.Request) -> web.Response:
    customer_id = path_value(request, "customerId")
    answer = await request.app[balances_key].balance(customer_id)
    return json_response(answer)


@routes.get("/v1/status")
async def status(request: web.Request) -> web.Response:
    return json_response(request.app[status_key].snapshot())


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ready, report = request.app[status_key].readiness()
    return json_response(report, status=200 if ready else 503)

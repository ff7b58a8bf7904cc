"""Thin handlers for the local API: decode, one component call, encode."""

from __future__ import annotations

import re

from aiohttp import web

from .. import errors
from ..checkout.balances import Balances
from ..checkout.estimates import Estimator
from ..checkout.holds import Holds
from ..checkout.inspection import OutboxView
from ..checkout.models import (
    SaleAnswer,
    discard_decoder,
    estimate_decoder,
    finalize_decoder,
    hold_decoder,
    refund_decoder,
)
from ..checkout.sales import Sales
from ..status import Status
from .edge import json_response, path_value, read_json
from .metrics import Metrics
from .openapi import build_openapi
from .statuspage import render

routes = web.RouteTableDef()
# A path parameter is any one segment: aiohttp's default pattern also refuses `{` and `}`,
# which would turn an id the JSON bodies accept into a 404 "no such endpoint" here.
SEGMENT = "[^/]+"
_digits = re.compile(r"[0-9]{1,19}")

estimator_key = web.AppKey("estimator", Estimator)
holds_key = web.AppKey("holds", Holds)
balances_key = web.AppKey("balances", Balances)
status_key = web.AppKey("status", Status)
sales_key = web.AppKey("sales", Sales)
outbox_view_key = web.AppKey("outbox_view", OutboxView)
metrics_key = web.AppKey("metrics", Metrics)


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


@routes.get("/v1/holds/{holdReference:" + SEGMENT + "}")
async def hold_status(request: web.Request) -> web.Response:
    reference = path_value(request, "holdReference")
    answer = await request.app[holds_key].status(reference)
    return json_response(answer)


@routes.delete("/v1/holds/{holdReference:" + SEGMENT + "}")
async def release_hold(request: web.Request) -> web.Response:
    reference = path_value(request, "holdReference")
    answer = await request.app[holds_key].release(reference)
    return json_response(answer, status=_sale_status(answer))


@routes.post("/v1/finalize-payment")
async def finalize_payment(request: web.Request) -> web.Response:
    payment = await read_json(request, finalize_decoder)
    answer = await request.app[sales_key].finalize(payment)
    return json_response(answer, status=_sale_status(answer))


@routes.post("/v1/refund")
async def refund(request: web.Request) -> web.Response:
    refund = await read_json(request, refund_decoder)
    answer = await request.app[sales_key].refund(refund)
    return json_response(answer, status=_sale_status(answer))


@routes.get("/v1/outbox")
async def outbox_list(request: web.Request) -> web.Response:
    query = request.query
    items = await request.app[outbox_view_key].listing(
        state=query.get("state"),
        customer_id=query.get("customerId"),
        outcome=query.get("outcome"),
        limit=_int_param(query.get("limit"), "limit", 100, 1, 1000),
        after_id=_int_param(query.get("afterId"), "afterId", 0, 0, 2**62),
    )
    return json_response({"items": items})


@routes.get("/v1/outbox/{id:" + SEGMENT + "}")
async def outbox_show(request: web.Request) -> web.Response:
    item_id = _int_param(request.match_info["id"], "id", 0, 1, 2**62)
    return json_response(await request.app[outbox_view_key].show(item_id))


@routes.post("/v1/outbox/{id:" + SEGMENT + "}/retry")
async def outbox_retry(request: web.Request) -> web.Response:
    item_id = _int_param(request.match_info["id"], "id", 0, 1, 2**62)
    item = await request.app[outbox_view_key].retry(item_id)
    return json_response(item)


@routes.post("/v1/outbox/{id:" + SEGMENT + "}/discard")
async def outbox_discard(request: web.Request) -> web.Response:
    item_id = _int_param(request.match_info["id"], "id", 0, 1, 2**62)
    body = await read_json(request, discard_decoder)
    item = await request.app[outbox_view_key].discard(item_id, body.reason)
    return json_response(item)


@routes.get("/v1/customers/{customerId:" + SEGMENT + "}/balance")
async def customer_balance(request: web.Request) -> web.Response:
    customer_id = path_value(request, "customerId")
    answer = await request.app[balances_key].balance(customer_id)
    return json_response(answer)


@routes.get("/v1/status")
async def status(request: web.Request) -> web.Response:
    return json_response(await request.app[status_key].report())


@routes.get("/status")
async def status_page(request: web.Request) -> web.Response:
    page = render(await request.app[status_key].report())
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    request.app[metrics_key].observe(await request.app[status_key].report())
    body, content_type = request.app[metrics_key].exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(build_openapi())


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[status_key].readiness()
    return json_response(readiness, status=200 if readiness.ready else 503)


def _sale_status(answer: SaleAnswer) -> int:
    """200 once Gameball has it; 202 while it waits, stored, in the outbox."""
    return 200 if answer.status == "delivered" else 202


def _int_param(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    # ASCII digits only: int() also takes "+5", "5_0", " 5" and digits of other scripts (U+0661).
    value = int(text) if _digits.fullmatch(text) else low - 1
    if not low <= value <= high:
        raise errors.ValidationFailed.field(name, f"must be a whole number from {low} to {high}")
    return value

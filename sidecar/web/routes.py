"""Thin handlers for the checkout: read and check the request, one component call, answer
(200 once Gameball has a stored call, 202 while it waits in the outbox)."""

from __future__ import annotations

from aiohttp import web

from ..checkout.models import (
    cashback_decoder,
    coupon_decoder,
    customer_decoder,
    estimate_decoder,
    finalize_decoder,
    hold_decoder,
    manual_decoder,
    order_decoder,
    refund_decoder,
)
from ..checkout.replies import SaleAnswer
from .edge import json_response, path_value, read_json
from .keys import (
    balances_key,
    coupons_key,
    customers_key,
    estimator_key,
    history_key,
    holds_key,
    points_key,
    sales_key,
)
from .params import SEGMENT, choice, int_param, optional_int

routes = web.RouteTableDef()


@routes.post("/v1/estimate-points")
async def estimate_points(request: web.Request) -> web.Response:
    estimate = await read_json(request, estimate_decoder)
    return json_response(await request.app[estimator_key].estimate(estimate))


@routes.post("/v1/hold-and-redeem")
async def hold_and_redeem(request: web.Request) -> web.Response:
    hold = await read_json(request, hold_decoder)
    return json_response(await request.app[holds_key].hold(hold))


@routes.get("/v1/holds/{holdReference:" + SEGMENT + "}")
async def hold_status(request: web.Request) -> web.Response:
    reference = path_value(request, "holdReference")
    return json_response(await request.app[holds_key].status(reference))


@routes.delete("/v1/holds/{holdReference:" + SEGMENT + "}")
async def release_hold(request: web.Request) -> web.Response:
    reference = path_value(request, "holdReference")
    return _stored(await request.app[holds_key].release(reference))


@routes.post("/v1/finalize-payment")
async def finalize_payment(request: web.Request) -> web.Response:
    payment = await read_json(request, finalize_decoder)
    return _stored(await request.app[sales_key].finalize(payment))


@routes.post("/v1/finalize-order")
async def finalize_order(request: web.Request) -> web.Response:
    order = await read_json(request, order_decoder)
    return _stored(await request.app[sales_key].finalize_order(order))


@routes.post("/v1/refund")
async def refund(request: web.Request) -> web.Response:
    refund = await read_json(request, refund_decoder)
    return _stored(await request.app[sales_key].refund(refund))


@routes.post("/v1/finalize-cashback")
async def finalize_cashback(request: web.Request) -> web.Response:
    cashback = await read_json(request, cashback_decoder)
    return _stored(await request.app[points_key].cashback(cashback))


@routes.post("/v1/manual-points")
async def manual_points(request: web.Request) -> web.Response:
    manual = await read_json(request, manual_decoder)
    return _stored(await request.app[points_key].manual(manual))


@routes.put("/v1/customers/{customerId:" + SEGMENT + "}")
async def upsert_customer(request: web.Request) -> web.Response:
    customer_id = path_value(request, "customerId")
    customer = await read_json(request, customer_decoder)
    return _stored(await request.app[customers_key].upsert(customer_id, customer))


@routes.get("/v1/customers/{customerId:" + SEGMENT + "}/balance")
async def customer_balance(request: web.Request) -> web.Response:
    customer_id = path_value(request, "customerId")
    return json_response(await request.app[balances_key].balance(customer_id))


@routes.get("/v1/customers/{customerId:" + SEGMENT + "}/transactions")
async def customer_history(request: web.Request) -> web.Response:
    customer_id = path_value(request, "customerId")
    query = request.query
    answer = await request.app[history_key].page(
        customer_id,
        limit=int_param(query.get("limit"), "limit", 20, 1, 200),
        start_after=optional_int(query.get("startAfter"), "startAfter", 0, 2**62),
        direction=choice(query.get("direction"), "direction", ("+", "-")),
    )
    return json_response(answer)


@routes.post("/v1/coupons/validate")
async def validate_coupons(request: web.Request) -> web.Response:
    coupons = await read_json(request, coupon_decoder)
    return json_response(await request.app[coupons_key].validate(coupons))


@routes.delete("/v1/coupons/locks/{lockReference:" + SEGMENT + "}")
async def release_coupons(request: web.Request) -> web.Response:
    reference = path_value(request, "lockReference")
    return _stored(await request.app[coupons_key].release(reference))


def _stored(answer: SaleAnswer) -> web.Response:
    """200 once Gameball has it; 202 while it waits, stored, in the outbox."""
    return json_response(answer, status=200 if answer.status == "delivered" else 202)

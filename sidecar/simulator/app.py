"""The simulated Gameball HTTP API: each spec path under /api/v4.0 it serves, as one route that
decodes the body, takes the customer's turn and asks the ledger. The edge is in edge.py."""

from __future__ import annotations

from aiohttp import web

from . import bodies, retail_bodies, rules
from .edge import (
    PREFIX,
    ApiListener,
    decode,
    gameball_edge,
    json_response,
    listener_key,
    simulator_key,
)
from .simulator import Simulator

__all__ = ["PREFIX", "ApiListener", "create_api_app", "json_response", "listener_key"]

MAX_PAGE = 200
routes = web.RouteTableDef()


@routes.post(PREFIX + "/integrations/payments")
async def track_payment(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, bodies.track_payment_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.track_payment(body))


@routes.post(PREFIX + "/integrations/payments/cashback")
async def quote_payment(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, bodies.payment_quote_decoder)
    await sim.pause(sim.latency_seconds)
    return json_response(sim.state.quote(body))


@routes.post(PREFIX + "/integrations/transactions/hold")
async def hold_points(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, bodies.hold_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.place_hold(body))


@routes.get(PREFIX + "/integrations/transactions/hold/{holdReferenceId}")
async def get_hold(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    await sim.pause(sim.latency_seconds)
    return json_response(sim.state.get_hold(request.match_info["holdReferenceId"]))


@routes.delete(PREFIX + "/integrations/transactions/hold/{holdReferenceId}")
async def release_hold(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    reference = request.match_info["holdReferenceId"]
    owner = sim.state.hold_owner(reference)
    if owner is None:
        return json_response(sim.state.release_hold(reference))  # raises 9006
    async with sim.customer_turn(owner):
        return json_response(sim.state.release_hold(reference))


@routes.post(PREFIX + "/integrations/transactions/redeem")
async def redeem(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, bodies.redeem_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.redeem(body))


@routes.post(PREFIX + "/integrations/transactions/cashback")
async def cashback(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, bodies.cashback_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.cashback(body))


@routes.post(PREFIX + "/integrations/transactions/refund")
async def refund(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, bodies.refund_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.refund(body))


@routes.get(PREFIX + "/integrations/transactions")
async def list_transactions(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    query = request.query
    limit = _query_int(query.get("limit"), default=50)
    page = sim.state.transactions(
        customer_id=query.get("customerId") or None,
        direction=query.get("direction"),
        status=query.get("status") or None,
        start_after=_query_int(query.get("startAfter"), default=0),
        limit=max(1, min(limit, MAX_PAGE)),
    )
    await sim.pause(sim.latency_seconds)
    return json_response(page)


@routes.get(PREFIX + "/integrations/customers/{customerId}/balance")
async def balance(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    await sim.pause(sim.latency_seconds)
    return json_response(sim.state.balance(request.match_info["customerId"]))


@routes.get(PREFIX + "/integrations/configurations/cashback")
async def cashback_configuration(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    customer_id = request.query.get("customerId")
    known = customer_id is not None and sim.state.accounts.find(customer_id) is not None
    tier = sim.state.accounts.tier(customer_id) if known else None
    await sim.pause(sim.latency_seconds)
    return json_response(rules.cashback_configuration(tier))


@routes.get(PREFIX + "/integrations/configurations/redemption")
async def redemption_configuration(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    await sim.pause(sim.latency_seconds)
    return json_response(rules.redemption_configuration())


@routes.post(PREFIX + "/integrations/orders")
async def track_order(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, retail_bodies.track_order_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.track_order(body))


@routes.post(PREFIX + "/integrations/orders/cashback")
async def quote_order(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, retail_bodies.order_quote_decoder)
    await sim.pause(sim.latency_seconds)
    return json_response(sim.state.quote_order(body))


@routes.post(PREFIX + "/integrations/transactions/manual")
async def manual_transaction(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, retail_bodies.manual_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.manual(body))


@routes.post(PREFIX + "/integrations/customers")
async def upsert_customer(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, retail_bodies.upsert_customer_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.upsert_customer(body))


@routes.get(PREFIX + "/integrations/customers/{customerId}")
async def get_customer(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    await sim.pause(sim.latency_seconds)
    return json_response(sim.state.customer(request.match_info["customerId"]))


@routes.post(PREFIX + "/integrations/coupons/validate")
async def validate_coupons(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await decode(request, retail_bodies.validate_coupons_decoder)
    # Locking changes what others may lock, so it takes the customer's turn like a payment.
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.validate_coupons(body))


@routes.delete(PREFIX + "/integrations/coupons/{lockReference}")
async def release_coupons(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    reference = request.match_info["lockReference"]
    owner = sim.state.coupons.lock_owner(reference)
    if owner is None:
        return json_response(sim.state.release_coupons(reference))  # raises 4004
    async with sim.customer_turn(owner):
        return json_response(sim.state.release_coupons(reference))


def _query_int(raw: str | None, *, default: int) -> int:
    # The contract check has refused anything but an integer before the handler runs.
    return default if raw is None else int(raw)


def create_api_app(sim: Simulator, listener: ApiListener) -> web.Application:
    app = web.Application(middlewares=[gameball_edge])
    app[simulator_key] = sim
    app[listener_key] = listener
    app.add_routes(routes)
    return app

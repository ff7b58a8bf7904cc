"""The control API under /__sim__: faults, clock, customers (and their points spent at another
store), coupons, ledger, journal, spec violations and reset."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from .coupons import CouponSpec
from .edge import ApiListener, json_response, listener_key, simulator_key
from .errors import GameballError
from .faults import Mode
from .simtime import naive_iso
from .simulator import Simulator

CONTROL_PREFIX = "/__sim__"


class FaultRequest(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    mode: Mode
    paths: list[str] | None = None
    count: int | None = None
    delay_seconds: float | None = None
    status: int | None = None
    code: int | None = None


class ClockRequest(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    advance_seconds: float


class CustomerRequest(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    customer_id: str
    points: int = 0
    tier: str | None = None


class CouponRequest(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    coupon: CouponSpec
    # Uses already made, by customer id: e.g. {"cust-1001": 1} for a code it has used.
    used_by: dict[str, int] | None = None


routes = web.RouteTableDef()


@web.middleware
async def plain_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bad control input is the tester's mistake: say what it was, as JSON, with a 400."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        return json_response({"error": str(exc)}, status=400)
    except GameballError as exc:
        return json_response({"error": exc.message, "code": exc.code}, status=exc.status)


@routes.get(CONTROL_PREFIX + "/health")
async def health(request: web.Request) -> web.Response:
    sim, listener = request.app[simulator_key], request.app[listener_key]
    return json_response(
        {
            "status": "ok",
            "apiUp": listener.api_up,
            "fault": sim.fault.describe(),
            "now": naive_iso(sim.now()),
        }
    )


@routes.post(CONTROL_PREFIX + "/faults")
async def set_fault(request: web.Request) -> web.Response:
    sim, listener = request.app[simulator_key], request.app[listener_key]
    body = msgspec.json.decode(await request.read(), type=FaultRequest)
    fault = sim.set_fault(
        body.mode,
        paths=body.paths,
        count=body.count,
        delay_seconds=body.delay_seconds,
        status=body.status,
        code=body.code,
    )
    # Switch here, not in a background task, so the caller's next connection sees the result.
    await listener.apply_faults()
    return json_response({"fault": fault.describe(), "apiUp": listener.api_up})


@routes.delete(CONTROL_PREFIX + "/faults")
async def clear_faults(request: web.Request) -> web.Response:
    sim, listener = request.app[simulator_key], request.app[listener_key]
    sim.clear_faults()
    await listener.set_down(False)
    return json_response({"fault": sim.fault.describe(), "apiUp": listener.api_up})


@routes.post(CONTROL_PREFIX + "/clock")
async def advance_clock(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = msgspec.json.decode(await request.read(), type=ClockRequest)
    sim.advance_clock(body.advance_seconds)
    return json_response({"now": naive_iso(sim.now())})


@routes.post(CONTROL_PREFIX + "/customers")
async def seed_customer(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = msgspec.json.decode(await request.read(), type=CustomerRequest)
    sim.seed_customer(body.customer_id, points=body.points, tier=body.tier)
    return json_response(
        {
            "customerId": body.customer_id,
            "tier": sim.state.accounts.tier(body.customer_id).name,
            **sim.state.balance(body.customer_id),
        }
    )


class SpendRequest(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    points: int


@routes.post(CONTROL_PREFIX + "/customers/{customerId}/spend")
async def spend_elsewhere(request: web.Request) -> web.Response:
    """Points spent at another store meanwhile: a redemption this sidecar never sent."""
    sim = request.app[simulator_key]
    body = msgspec.json.decode(await request.read(), type=SpendRequest)
    answer = sim.spend_elsewhere(request.match_info["customerId"], body.points)
    return json_response(answer | {"balance": sim.state.balance(answer["customerId"])})


@routes.get(CONTROL_PREFIX + "/customers/{customerId}")
async def customer(request: web.Request) -> web.Response:
    """Everything kept about a customer: attributes, contact, referral, tier and balance."""
    sim = request.app[simulator_key]
    return json_response(sim.customer(request.match_info["customerId"]))


@routes.get(CONTROL_PREFIX + "/coupons")
async def coupons(request: web.Request) -> web.Response:
    """Every coupon with its uses per customer, and every lock with its state."""
    return json_response(request.app[simulator_key].state.coupons.snapshot())


@routes.post(CONTROL_PREFIX + "/coupons")
async def add_coupon(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = msgspec.json.decode(await request.read(), type=CouponRequest)
    sim.add_coupon(body.coupon, used_by=body.used_by)
    return json_response({"coupon": body.coupon})


@routes.get(CONTROL_PREFIX + "/ledger")
async def ledger(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    records = sim.ledger(request.query.get("customerId") or None)
    return json_response({"transactions": records, "count": len(records)})


@routes.get(CONTROL_PREFIX + "/requests")
async def journal(request: web.Request) -> web.Response:
    entries = request.app[simulator_key].requests
    return json_response({"requests": entries, "count": len(entries)})


@routes.get(CONTROL_PREFIX + "/violations")
async def violations(request: web.Request) -> web.Response:
    found = request.app[simulator_key].spec_violations
    return json_response({"violations": found, "count": len(found)})


@routes.post(CONTROL_PREFIX + "/reset")
async def reset(request: web.Request) -> web.Response:
    sim, listener = request.app[simulator_key], request.app[listener_key]
    sim.reset()
    await listener.set_down(False)
    return json_response({"status": "ok"})


def create_control_app(sim: Simulator, listener: ApiListener) -> web.Application:
    app = web.Application(middlewares=[plain_errors])
    app[simulator_key] = sim
    app[listener_key] = listener
    app.add_routes(routes)
    return app

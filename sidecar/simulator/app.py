"""The simulated Gameball HTTP API: spec paths under /api/v4.0, one middleware for the edge."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import msgspec
from aiohttp import web

from . import bodies, journal, rules
from .contract import Violation
from .errors import HTML_503, RATE_LIMIT_BODY, GameballError, error_body, legacy_error_body
from .faults import Fault
from .ratelimit import is_limited
from .simulator import Simulator

PREFIX = "/api/v4.0"
MAX_PAGE = 200

# The spec's security for these is apiKey alone; every other endpoint also needs secretKey.
API_KEY_ONLY = frozenset(
    {
        "/integrations/payments/cashback",
        "/integrations/configurations/cashback",
        "/integrations/configurations/redemption",
    }
)


class ApiListener(Protocol):
    """The server's side of the API socket, which the apps read and the control API switches."""

    @property
    def api_up(self) -> bool: ...

    async def set_down(self, down: bool) -> None: ...

    async def apply_faults(self) -> None: ...


simulator_key = web.AppKey("simulator", Simulator)
listener_key = web.AppKey("listener", ApiListener)
routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json"
    )


@web.middleware
async def gameball_edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Journal the request and check it against the spec, then play the fault, auth, rate
    limit, contract and error rules in order."""
    sim = request.app[simulator_key]
    request_id = uuid.uuid4().hex
    raw_body = await request.read()
    entry = journal.entry(
        request_id=request_id,
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        raw_body=raw_body,
        time=sim.now(),
    )
    sim.journal.add(entry)
    # Recorded whatever the answer (a fault, a 401): what was sent broke the spec either way.
    found = sim.contract.check(request.method, request.rel_url.raw_path, request.query, raw_body)
    violations = sim.record_violations(entry, found)
    status: int | None = None
    try:
        # A connection accepted just before the socket closed must not reach a "down" Gameball.
        down = not request.app[listener_key].api_up
        response = None if down else await _answer(request, handler, sim, request_id, violations)
        if response is None:
            # No answer at all: the client sees its connection drop, as in a crash or reset.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)
        status = response.status
        if isinstance(response, web.Response) and response.content_type == "application/json":
            entry["response"] = msgspec.json.decode(response.body or b"null")  # type: ignore[arg-type]
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        sim.journal.answered(entry, status)


async def _answer(
    request: web.Request,
    handler: Handler,
    sim: Simulator,
    request_id: str,
    violations: list[Violation],
) -> web.StreamResponse | None:
    fault = sim.faults.take(request.path)
    if fault is not None:
        if fault.mode in ("down", "reset"):
            # "down" normally closes the listener; this catches kept-alive connections.
            return None
        if fault.mode == "blackhole":
            await sim.swallow()
            return None
        if fault.mode == "slow":
            await sim.pause(fault.delay_seconds)
        elif fault.mode == "drop_response":
            await _process(request, handler, sim, request_id, violations)
            return None
        else:
            return _fault_response(fault, request_id)
    return await _process(request, handler, sim, request_id, violations)


async def _process(
    request: web.Request,
    handler: Handler,
    sim: Simulator,
    request_id: str,
    violations: list[Violation],
) -> web.StreamResponse:
    api_path = request.path.removeprefix(PREFIX)
    try:
        sim.check_auth(request.headers, needs_secret=api_path not in API_KEY_ONLY)
        if is_limited(api_path) and not sim.limiter.admit():
            return json_response(RATE_LIMIT_BODY, status=429)
        # Gameball refuses a payload outside its contract before any business rule runs; of
        # several faults the most basic is named (unreadable, missing, wrong type, bad value).
        codes = [(v.code, v.message) for v in violations if v.code is not None]
        if codes:
            code, message = min(codes, key=lambda pair: pair[0])
            raise GameballError(code, message, status=400)
        return await handler(request)
    except GameballError as exc:
        return json_response(exc.body(request_id), status=exc.status)


def _fault_response(fault: Fault, request_id: str) -> web.Response:
    if fault.mode == "error5xx":
        unavailable = fault.status == 503
        code, status = (5003, 503) if unavailable else (5000, fault.status or 500)
        message = "Service unavailable." if unavailable else "Internal server error."
        return json_response(error_body(code, message, request_id), status=status)
    if fault.mode == "html503":
        return web.Response(status=fault.status or 503, text=HTML_503, content_type="text/html")
    if fault.mode == "ratelimit":
        return json_response(RATE_LIMIT_BODY, status=429)
    if fault.mode == "legacy_error":
        status = fault.status or 400
        return json_response(legacy_error_body(fault.code or status, "Bad request."), status)
    error = GameballError(fault.code or 3000, "Injected error.", status=fault.status)
    return json_response(error.body(request_id), status=error.status)


async def _decode(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    return bodies.decode(decoder, await request.read())


@routes.post(PREFIX + "/integrations/payments")
async def track_payment(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await _decode(request, bodies.track_payment_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.track_payment(body))


@routes.post(PREFIX + "/integrations/payments/cashback")
async def quote_payment(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await _decode(request, bodies.payment_quote_decoder)
    await sim.pause(sim.latency_seconds)
    return json_response(sim.state.quote(body))


@routes.post(PREFIX + "/integrations/transactions/hold")
async def hold_points(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await _decode(request, bodies.hold_decoder)
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
    body = await _decode(request, bodies.redeem_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.redeem(body))


@routes.post(PREFIX + "/integrations/transactions/cashback")
async def cashback(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await _decode(request, bodies.cashback_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.cashback(body))


@routes.post(PREFIX + "/integrations/transactions/refund")
async def refund(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    body = await _decode(request, bodies.refund_decoder)
    async with sim.customer_turn(body.customer_id):
        return json_response(sim.state.refund(body))


@routes.get(PREFIX + "/integrations/transactions")
async def list_transactions(request: web.Request) -> web.Response:
    sim = request.app[simulator_key]
    query = request.query
    limit = _query_int(query.get("limit"), default=50)
    page = sim.state.log.page(
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


def _query_int(raw: str | None, *, default: int) -> int:
    # The contract check has refused anything but an integer before the handler runs.
    return default if raw is None else int(raw)


def create_api_app(sim: Simulator, listener: ApiListener) -> web.Application:
    app = web.Application(middlewares=[gameball_edge])
    app[simulator_key] = sim
    app[listener_key] = listener
    app.add_routes(routes)
    return app

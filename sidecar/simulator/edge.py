"""The simulated Gameball's edge: one middleware that journals, checks against the spec, plays
faults, authenticates, rate-limits and renders errors before any route runs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import msgspec
from aiohttp import web

from . import bodies, journal
from .contract import Violation
from .errors import HTML_503, RATE_LIMIT_BODY, GameballError, error_body, legacy_error_body
from .faults import Fault
from .ratelimit import is_limited
from .simulator import Simulator

PREFIX = "/api/v4.0"


class ApiListener(Protocol):
    """The server's side of the API socket, which the apps read and the control API switches."""

    @property
    def api_up(self) -> bool: ...

    async def set_down(self, down: bool) -> None: ...

    async def apply_faults(self) -> None: ...


simulator_key = web.AppKey("simulator", Simulator)
listener_key = web.AppKey("listener", ApiListener)
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
        if response is not None and (request.transport is None or request.transport.is_closing()):
            # Applied, but the client's connection was cut meanwhile: it never gets this answer.
            return web.Response(status=499)
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
    # Which calls need the secret as well as the key is read from each operation's security.
    needs_secret = sim.contract.needs_secret(request.method, request.rel_url.raw_path)
    try:
        sim.check_auth(request.headers, needs_secret=needs_secret)
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


async def decode(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    return bodies.decode(decoder, await request.read())

"""Who may call the local API: without an access token only requests naming this machine by a
loopback name (DNS rebinding), with one the bearer token; browsers only from the allow-listed
kiosk origins (CORS), whose headers go on every answer, errors included."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from .. import errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Liveness and readiness stay open so a supervisor can ask without the token.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-Id"
# `localhost` exactly: "localhost." and "*.localhost" may be sent to DNS by some resolvers,
# which is precisely how a rebinding name gets in.
LOOPBACK_NAMES = frozenset({"localhost"})
# A Host header: a name or IPv4 address, or an IPv6 address in brackets; then an optional port.
_host_header = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/@]+)(?::[0-9]{1,5})?")


def cors_middleware(cors_origins: Collection[str]) -> Middleware:
    """Outside the error middleware, so error answers get the headers too: a kiosk app that
    cannot read a 422 cannot tell the cashier what to fix."""
    origins = frozenset(cors_origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and not response.prepared:
            response.headers["Vary"] = "Origin"
            if origin in origins:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Expose-Headers"] = "X-Request-Id"
        return response

    return cors


def security_middleware(
    token: str, cors_origins: Collection[str], allowed_hosts: Collection[str] = ()
) -> Middleware:
    """Inside the error middleware: its refusals are rendered in the one error shape."""
    origins = frozenset(cors_origins)
    hosts = LOOPBACK_NAMES | {_canonical(host) for host in allowed_hosts}
    # Compared as digests, so neither the content nor the length of the token leaks by timing.
    expected = hashlib.sha256(token.encode()).digest()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        # With a token the token is the guard (and the sidecar may listen beyond loopback).
        if not token:
            _check_host(request, hosts)
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins and request.path not in OPEN_PATHS:
            # A web page elsewhere on this machine must not record sales or spend points.
            raise errors.OriginNotAllowed(
                f"Browser calls from {origin[:100]} are not allowed; add it to sidecar.cors_origins"
            )
        if request.method == "OPTIONS" and origin is not None:
            return _preflight()
        if token and request.path not in OPEN_PATHS:
            given = _bearer(request.headers.get("Authorization", ""))
            if given is None or not hmac.compare_digest(hashlib.sha256(given).digest(), expected):
                raise errors.Unauthorized(
                    "This sidecar requires `Authorization: Bearer <token>` (its access token)"
                )
        return await handler(request)

    return guard


def _check_host(request: web.Request, hosts: frozenset[str]) -> None:
    values = request.headers.getall("Host", [])
    if len(values) == 1 and is_local_host(values[0], hosts):
        return
    shown = repr(values[0][:100]) if len(values) == 1 and values[0] else "missing or empty"
    raise errors.HostNotAllowed(
        f"This sidecar answers only requests addressed to this machine (localhost, 127.0.0.1 "
        f"or [::1]); the Host header was {shown}. Add the name to sidecar.allowed_hosts if "
        "it really is this machine"
    )


def is_local_host(header: str, hosts: Collection[str] = LOOPBACK_NAMES) -> bool:
    """Whether a Host header names this machine: a loopback address (127.0.0.0/8, ::1, with
    or without port), or one of ``hosts`` (canonical names, see ``_canonical``)."""
    match = _host_header.fullmatch(header)
    if match is None:
        return False
    name = _canonical(match.group(1))
    if name in hosts:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _canonical(host: str) -> str:
    """Lower case, IPv6 without brackets and in its short form, so spellings compare equal."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if ":" in name:
        try:
            return str(ipaddress.IPv6Address(name))
        except ValueError:
            pass
    return name


def _bearer(header: str) -> bytes | None:
    """The credentials of ``Bearer <token>``; the scheme is case-insensitive (RFC 9110 11.1)."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip(" ").encode("utf-8", "surrogateescape")


def _preflight() -> web.Response:
    # The allow-origin headers are added by cors_middleware, like on every other answer.
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response

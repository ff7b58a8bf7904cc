"""Who may call the local API: a bearer token when one is configured (required beyond
loopback), and browsers only from the allow-listed kiosk origins (CORS)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from . import errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Liveness and readiness stay open so a supervisor can ask without the token.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-Id"


class Unauthorized(errors.SidecarError):
    status, code = 401, "UNAUTHORIZED"


class OriginNotAllowed(errors.SidecarError):
    status, code = 403, "ORIGIN_NOT_ALLOWED"


def security_middleware(token: str, cors_origins: Collection[str]) -> Middleware:
    expected = f"Bearer {token}".encode()
    origins = frozenset(cors_origins)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins and request.path not in OPEN_PATHS:
            # A web page elsewhere on this machine must not record sales or spend points.
            raise OriginNotAllowed(
                f"Browser calls from {origin} are not allowed; add it to sidecar.cors_origins"
            )
        if request.method == "OPTIONS" and origin is not None:
            return _with_cors(web.Response(status=204), origin, preflight=True)
        if token and request.path not in OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                raise Unauthorized(
                    "This sidecar requires `Authorization: Bearer <token>` (its access token)"
                )
        response = await handler(request)
        return _with_cors(response, origin) if origin is not None else response

    return guard


def _with_cors(
    response: web.StreamResponse, origin: str, *, preflight: bool = False
) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = "X-Request-Id"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response

"""The HTTP edge shared by every handler: reading a JSON body into a model, writing a JSON answer,
and the middleware that renders every failure in the one error shape."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from .. import errors, ids
from ..logs import request_id_var

log = logging.getLogger(__name__)
access = logging.getLogger("sidecar.access")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"
_request_id_ok = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_encoder = msgspec.json.Encoder()


async def read_json(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode the body into a model, or raise the 4xx that tells the POS developer what to fix."""
    limit = request.app[max_body_key]
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None
    except ConnectionResetError:
        raise errors.MalformedJson(
            "The request body ended early (the connection was lost)"
        ) from None
    if not body.strip():
        raise errors.MalformedJson("The request body is empty; send a JSON object")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    except msgspec.DecodeError as exc:
        raise errors.MalformedJson(
            f"The request body is not valid JSON ({exc}); send a JSON object"
        ) from None
    except UnicodeDecodeError:
        raise errors.MalformedJson(
            "The request body is not valid UTF-8; send JSON encoded as UTF-8"
        ) from None
    except RecursionError:
        raise errors.ValidationFailed.field(
            "$", "the JSON is nested too deeply; flatten the `extra` objects"
        ) from None


def validation_error(exc: msgspec.ValidationError) -> errors.ValidationFailed:
    # msgspec: "Expected `int`, got `str` - at `$.points`" -> field $.points
    message, _, where = str(exc).rpartition(" - at ")
    if not message:
        message, where = str(exc), "`$`"
    path = where.strip("`")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
    if unknown:
        path = f"{path}.{unknown.group(1)}"
        message = "unknown field; check its spelling against the API reference (/openapi.json)"
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:
        path = f"{path}.{missing.group(1)}"
        message = "required field is missing"
    if "RFC3339" in message:
        message = "must be an ISO 8601 date-time such as 2026-11-22T10:48:56.719Z"
    if "matching regex" in message:
        # The regex itself means nothing to a POS developer; say what an id may contain.
        message = ids.RULE
    message = message[0].lower() + message[1:]
    return errors.ValidationFailed.field(path, message)


def path_value(request: web.Request, name: str) -> str:
    """An id from the URL path, already percent-decoded by aiohttp (``%2E%2E`` arrives as
    ``..``), held to the same rule as ids in JSON bodies."""
    value = request.match_info[name]
    if not ids.is_valid(value):
        raise errors.ValidationFailed.field(name, ids.RULE)
    return value


def json_response(value: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(value), status=status, content_type="application/json")


def error_response(error: errors.ApiError) -> web.Response:
    response = json_response(error.body(), status=error.status)
    response.headers.update(error.headers)
    return response


def _too_large(limit: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"The request body is larger than this sidecar accepts ({limit} bytes)"
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer that is not a success leaves here, in the one error shape; every request
    gets an id (the caller's, if it sent a sane one) on its log lines and its answer."""
    request_id = request.headers.get(REQUEST_ID_HEADER, "")
    if not _request_id_ok.fullmatch(request_id):
        request_id = uuid.uuid4().hex
    request[request_id_key] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    try:
        response = await _answer(request, handler, request_id)
        response.headers[REQUEST_ID_HEADER] = request_id
        access.info(
            "%s %s %d",
            request.method,
            request.path,
            response.status,
            extra={"status": response.status, "ms": round((time.perf_counter() - started) * 1e3)},
        )
        return response
    finally:
        request_id_var.reset(token)


async def _answer(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    try:
        response = await handler(request)
    except errors.ApiError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        response = error_response(_from_http_exception(exc, request))
    except Exception:
        log.exception("unexpected failure handling %s %s", request.method, request.path)
        response = error_response(
            errors.ApiError(
                f"The sidecar failed unexpectedly; the details are in its log under request id "
                f"{request_id}"
            )
        )
    return response


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> errors.ApiError:
    if exc.status == 404:
        return errors.RouteNotFound(
            f"There is no endpoint {request.method} {request.path}; see /openapi.json"
        )
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return errors.MethodNotAllowed(
            f"{request.path} does not accept {request.method}; use {allowed or 'another method'}",
            headers={"Allow": allowed},
        )
    if exc.status == 413:
        return _too_large(request.app[max_body_key])
    return errors.ValidationFailed(exc.reason or f"HTTP {exc.status}")


max_body_key = web.AppKey("max_body", int)
request_id_key = web.RequestKey("request_id", str)

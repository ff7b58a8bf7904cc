"""The local API described as OpenAPI 3.1, built from the same msgspec models that decode the
requests and encode the answers, so the document cannot drift from the code."""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec

from .. import __version__, ids
from ..checkout.models import (
    CashbackRequest,
    CouponRequest,
    CustomerRequest,
    DiscardRequest,
    EstimateRequest,
    FinalizeRequest,
    HoldRequest,
    ManualPointsRequest,
    OrderRequest,
    RefundRequest,
)
from ..checkout.replies import (
    BalanceAnswer,
    CouponAnswer,
    ErrorBody,
    EstimateAnswer,
    HistoryAnswer,
    HoldAnswer,
    SaleAnswer,
)
from ..status import Readiness, StatusReport
from .examples import EXAMPLES
from .security import OPEN_PATHS

OBJECT: dict[str, Any] = {"type": "object"}
E = ErrorBody
# Stored calls answer alike: stored and delivered, stored and queued, or refused (the body's
# field, an idempotency or hold conflict, Gameball's refusal online, an offline limit).
STORED: dict[int, Any] = {200: SaleAnswer, 202: SaleAnswer, 400: E, 409: E, 413: E, 422: E, 503: E}
RELEASED: dict[int, Any] = {200: SaleAnswer, 202: SaleAnswer, 404: E, 409: E, 422: E, 503: E}
READ: dict[int, Any] = {404: E, 422: E, 502: E, 503: E}
Op = tuple[str, str, str, type | None, dict[int, Any]]
# Answers any route can give before its handler runs (sidecar.security): 403 for a Host that
# is not this machine or a browser origin not allowed, 401 without the access token when one
# is set (not on the open paths).
GUARD_ANSWERS: dict[int, Any] = {401: E, 403: E}

# (method, path, summary, request model, {status: answer model or raw schema})
OPERATIONS: list[Op] = [
    (
        "post",
        "/v1/estimate-points",
        "Points a basket would earn (a payment basket or a retail order)",
        EstimateRequest,
        {200: EstimateAnswer, 400: E, 413: E, 422: E, 503: E},
    ),
    (
        "post",
        "/v1/hold-and-redeem",
        "Reserve (and optionally redeem) points; a scanned pass names the customer",
        HoldRequest,
        {200: HoldAnswer, 400: E, 404: E, 409: E, 413: E, 422: E, 502: E, 503: E},
    ),
    (
        "get",
        "/v1/holds/{holdReference}",
        "A hold's state and expiry",
        None,
        {200: HoldAnswer, **READ},
    ),
    ("delete", "/v1/holds/{holdReference}", "Release a hold (queued durably)", None, RELEASED),
    (
        "post",
        "/v1/finalize-payment",
        "Record a payment: earn points, burn a hold",
        FinalizeRequest,
        STORED,
    ),
    ("post", "/v1/finalize-order", "Record a retail order (Track Order)", OrderRequest, STORED),
    ("post", "/v1/refund", "Refund a payment or an order", RefundRequest, STORED),
    ("post", "/v1/finalize-cashback", "Amount-only earning", CashbackRequest, STORED),
    (
        "post",
        "/v1/manual-points",
        "A manager's goodwill points or deduction",
        ManualPointsRequest,
        STORED,
    ),
    (
        "put",
        "/v1/customers/{customerId}",
        "Register or update the shopper",
        CustomerRequest,
        STORED,
    ),
    (
        "get",
        "/v1/customers/{customerId}/balance",
        "A customer's points balance, with points about to expire",
        None,
        {200: BalanceAnswer, **READ},
    ),
    (
        "get",
        "/v1/customers/{customerId}/transactions",
        "A customer's history, and this till's calls not at Gameball yet",
        None,
        {200: HistoryAnswer, **READ},
    ),
    (
        "post",
        "/v1/coupons/validate",
        "Validate (and lock) coupon codes",
        CouponRequest,
        {200: CouponAnswer, 400: E, 404: E, 413: E, 422: E, 502: E, 503: E},
    ),
    (
        "delete",
        "/v1/coupons/locks/{lockReference}",
        "Release a coupon lock (queued)",
        None,
        RELEASED,
    ),
    ("get", "/v1/outbox", "Queued, delivered and failed calls", None, {200: OBJECT, 422: E}),
    ("get", "/v1/outbox/{id}", "One outbox item in full", None, {200: OBJECT, 404: E, 422: E}),
    (
        "post",
        "/v1/outbox/{id}/retry",
        "Send a dead letter again",
        None,
        {200: OBJECT, 404: E, 409: E, 422: E},
    ),
    (
        "post",
        "/v1/outbox/{id}/discard",
        "Give up on an item, keeping the reason",
        DiscardRequest,
        {200: OBJECT, 400: E, 404: E, 409: E, 422: E},
    ),
    ("get", "/v1/status", "Connectivity, outbox and alarms, as JSON", None, {200: StatusReport}),
    ("get", "/status", "Status page for store IT (HTML)", None, {200: "text/html"}),
    ("get", "/metrics", "Prometheus metrics", None, {200: "text/plain"}),
    ("get", "/healthz", "Liveness", None, {200: OBJECT}),
    (
        "get",
        "/readyz",
        "Readiness (offline still counts as ready)",
        None,
        {200: Readiness, 503: Readiness},
    ),
    ("get", "/openapi.json", "This document", None, {200: OBJECT}),
]
QUERY: dict[str, list[dict[str, Any]]] = {
    "/v1/customers/{customerId}/transactions": [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
        },
        {"name": "startAfter", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "direction", "in": "query", "schema": {"type": "string", "enum": ["+", "-"]}},
    ],
    "/v1/outbox": [
        {"name": "state", "in": "query", "schema": {"type": "string", "maxLength": 100}},
        {"name": "customerId", "in": "query", "schema": {"type": "string", "maxLength": 128}},
        {"name": "outcome", "in": "query", "schema": {"type": "string", "maxLength": 50}},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        {"name": "afterId", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ],
}


@functools.cache
def build_openapi() -> dict[str, Any]:
    used = {
        m
        for *_, request, answers in OPERATIONS
        for m in (request, *answers.values())
        if isinstance(m, type)
    }
    structs = sorted(used, key=lambda m: m.__name__)
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, answers in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": method + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_"),
            "responses": {
                str(code): _response(answer)
                for code, answer in sorted(
                    {**_guard_answers(path), **answers}.items(), key=lambda item: item[0]
                )
            },
        }
        parameters = [_path_param(name) for name in _path_names(path)] + QUERY.get(path, [])
        if parameters:
            operation["parameters"] = parameters
        if request is not None:
            content: dict[str, Any] = {"schema": _ref(request)}
            if (method, path) in EXAMPLES:
                content["example"] = EXAMPLES[(method, path)]
            operation["requestBody"] = {"required": True, "content": {"application/json": content}}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gameball-sidecar local API",
            "version": __version__,
            "description": "Loyalty at the POS checkout, online or offline. Every error "
            "answer has the ErrorBody shape.",
        },
        "servers": [{"url": "http://127.0.0.1:8787"}],
        "paths": paths,
        "components": {"schemas": components},
    }


def _guard_answers(path: str) -> dict[int, Any]:
    return {403: ErrorBody} if path in OPEN_PATHS else GUARD_ANSWERS


def _response(answer: Any) -> dict[str, Any]:
    if answer == "text/html" or answer == "text/plain":
        return {"description": "OK", "content": {answer: {"schema": {"type": "string"}}}}
    schema = answer if isinstance(answer, dict) else _ref(answer)
    return {"description": "answer", "content": {"application/json": {"schema": schema}}}


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _path_param(name: str) -> dict[str, Any]:
    if name == "id":
        schema: dict[str, Any] = {"type": "integer", "minimum": 1}
    else:
        schema = {"type": "string", "maxLength": ids.MAX_LENGTH, "pattern": ids.PATTERN}
    return {"name": name, "in": "path", "required": True, "schema": schema}

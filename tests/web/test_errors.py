"""Every way a request can be wrong gets a 4xx in the one error shape, naming what to fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.clients import Client, assert_error_shape

HOLD = {"customerId": "cust-1001", "checkoutId": "co-err"}


EST, HOLD_PATH, BAD = "/v1/estimate-points", "/v1/hold-and-redeem", "VALIDATION_ERROR"
CASES: list[tuple[str, str, Any, int, str, str | None]] = [
    ("POST", EST, b"{not json", 400, "MALFORMED_JSON", None),
    ("POST", EST, b'{"totalPaid": 1', 400, "MALFORMED_JSON", None),
    ("POST", EST, b"", 400, "MALFORMED_JSON", None),
    ("POST", EST, b'{"totalPaid": NaN}', 400, "MALFORMED_JSON", None),
    ("POST", EST, b"[1, 2]", 422, BAD, "$"),
    ("POST", EST, {}, 422, BAD, "$.totalPaid"),
    ("POST", EST, {"totalPaid": "12"}, 422, BAD, "$.totalPaid"),
    ("POST", EST, {"totalPaid": -1}, 422, BAD, "$.totalPaid"),
    ("POST", EST, {"totalPaid": 1e300}, 422, BAD, "$.totalPaid"),
    ("POST", EST, {"totalPaid": 1, "totlaTax": 2}, 422, BAD, "$.totlaTax"),
    (
        "POST",
        EST,
        {"totalPaid": 1, "paymentDetails": [{"amount": "x"}]},
        422,
        BAD,
        "$.paymentDetails[0].amount",
    ),
    ("POST", EST, {"totalPaid": 1, "paymentDetails": [{}] * 10_000}, 422, BAD, "$.paymentDetails"),
    ("POST", HOLD_PATH, HOLD, 422, BAD, "$.points"),
    ("POST", HOLD_PATH, {**HOLD, "points": 1, "amount": 1}, 422, BAD, "$.points"),
    ("POST", HOLD_PATH, {**HOLD, "points": 0}, 422, BAD, "$.points"),
    ("POST", HOLD_PATH, {**HOLD, "points": 1.5}, 422, BAD, "$.points"),
    ("POST", HOLD_PATH, {**HOLD, "amount": 5e-324}, 422, BAD, "$.amount"),
    ("POST", HOLD_PATH, {"checkoutId": "x", "points": 1}, 422, BAD, "$.customerId"),
    ("POST", HOLD_PATH, {**HOLD, "customerId": "", "points": 1}, 422, BAD, "$.customerId"),
    ("POST", HOLD_PATH, {**HOLD, "points": 1, "redeemNow": True}, 422, BAD, "$.transactionId"),
    ("GET", "/v1/nothing-here", None, 404, "NOT_FOUND", None),
    ("DELETE", EST, None, 405, "METHOD_NOT_ALLOWED", None),
    ("GET", "/v1/holds/" + "x" * 200, None, 422, BAD, "holdReference"),
    ("GET", "/v1/customers/" + "c" * 200 + "/balance", None, 422, BAD, "customerId"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "field"), CASES)
async def test_error_every_bad_request_in_one_shape(
    sidecar: Client,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs["data"] = body
        kwargs["headers"] = {"Content-Type": "application/json"}
    elif body is not None:
        kwargs["json"] = body

    response = await sidecar.request(method, path, **kwargs)

    payload = await response.json()
    assert response.status == status, payload
    assert_error_shape(payload, code)
    assert response.headers["X-Request-Id"]
    if field is not None:
        assert payload["error"]["details"][0]["field"] == field, payload
        assert field in payload["error"]["message"]


async def test_error_body_over_limit_is_413(sidecar: Client) -> None:
    huge = b'{"totalPaid": 1, "customerId": "' + b"a" * 200_000 + b'"}'

    response = await sidecar.post(
        "/v1/estimate-points", data=huge, headers={"Content-Type": "application/json"}
    )

    assert response.status == 413
    assert_error_shape(await response.json(), "PAYLOAD_TOO_LARGE")


async def test_error_request_id_is_echoed(sidecar: Client) -> None:
    response = await sidecar.get("/v1/nope", headers={"X-Request-Id": "pos-abc-123"})

    assert response.headers["X-Request-Id"] == "pos-abc-123"


async def test_error_deeply_nested_extra_is_refused_not_crashed(sidecar: Client) -> None:
    nested = "[" * 5000 + "]" * 5000
    body = '{"totalPaid": 1, "paymentDetails": [{"extra": {"x": ' + nested + "}}]}"

    response = await sidecar.post(
        "/v1/estimate-points", data=body, headers={"Content-Type": "application/json"}
    )

    assert 400 <= response.status < 500
    assert (await response.json())["error"]["code"] in {"MALFORMED_JSON", "VALIDATION_ERROR"}


async def test_error_405_names_the_allowed_methods(sidecar: Client) -> None:
    response = await sidecar.delete("/v1/estimate-points")

    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert "use POST" in (await response.json())["error"]["message"]


async def test_error_id_with_trailing_newline_is_refused_in_words(sidecar: Client) -> None:
    response = await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-1\n", "paymentId": "p", "totalPaid": 1}
    )

    body = await response.json()
    assert response.status == 422
    assert body["error"]["details"][0]["field"] == "$.customerId"
    assert "newlines" in body["error"]["message"] and "regex" not in body["error"]["message"]

"""Properties of the HTTP edge over generated input: any JSON a POS might send either decodes
into a request model or becomes a 4xx in the one error shape, and valid requests survive a
round trip unchanged; the real app agrees with the decoders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar import errors
from sidecar.checkout.models import (
    EstimateRequest,
    FinalizeRequest,
    HoldRequest,
    RefundRequest,
    estimate_decoder,
    finalize_decoder,
    hold_decoder,
    refund_decoder,
)
from sidecar.checkout.replies import ErrorBody
from sidecar.web.edge import validation_error
from tests.support.clients import assert_error_shape
from tests.support.fixtures import MakeSidecar

Decoder = msgspec.json.Decoder[Any]


ENDPOINTS: dict[str, tuple[str, Decoder, type[msgspec.Struct]]] = {
    "estimate": ("/v1/estimate-points", estimate_decoder, EstimateRequest),
    "hold": ("/v1/hold-and-redeem", hold_decoder, HoldRequest),
    "finalize": ("/v1/finalize-payment", finalize_decoder, FinalizeRequest),
    "refund": ("/v1/refund", refund_decoder, RefundRequest),
}


FIELD_NAMES = sorted(
    {f.encode_name for _, _, model in ENDPOINTS.values() for f in msgspec.structs.fields(model)}
)


def at_the_edge(decoder: Decoder, raw: bytes) -> Any:
    """What `read_json` makes of a body that fits the size limit: the model, or the error."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return validation_error(exc)
    except msgspec.DecodeError:
        return errors.MalformedJson("The request body is not valid JSON; send a JSON object")
    except RecursionError:
        return errors.ValidationFailed.field("$", "the JSON is nested too deeply")


def assert_4xx_for_the_pos(error: errors.ApiError) -> None:
    assert (error.status, error.code) in {(400, "MALFORMED_JSON"), (422, "VALIDATION_ERROR")}
    body = error.body()
    assert_error_shape(body, error.code)
    msgspec.convert(body, ErrorBody)
    if error.status == 422:
        (detail,) = body["error"]["details"]
        assert detail["field"].startswith("$"), detail
        assert detail["field"] in body["error"]["message"]


def encode(document: Any, *, ascii_only: bool) -> bytes:
    """JSON text as a POS would send it; lone surrogates can only travel as \\u escapes."""
    try:
        return json.dumps(document, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:
        return json.dumps(document).encode()


# --- strategies -----------------------------------------------------------------------------

hostile_text = st.text(max_size=12) | st.text(st.characters(categories=["Cs"]), min_size=1)


hostile_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | hostile_text
    | st.sampled_from(FIELD_NAMES),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | hostile_text, inner, max_size=5)
    ),
    max_leaves=30,
)


hostile_requests = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | hostile_text, hostile_json, max_size=8
)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)


json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)


ids = st.text(
    st.characters(exclude_characters="/\\", exclude_categories=["Cc", "Cf", "Zl", "Zp", "Cs"]),
    min_size=1,
    max_size=128,
).filter(lambda text: text.strip(".") != "")


texts = st.text(max_size=256)


tags = st.lists(texts, max_size=50)


extras = st.dictionaries(
    st.text(max_size=20),
    st.text(max_size=20) | st.floats(allow_nan=False, allow_infinity=False),
    max_size=50,
)


money = st.floats(min_value=0, max_value=1e9) | st.integers(0, 10**9)


positive_money = st.floats(min_value=0.01, max_value=1e9) | st.integers(1, 10**9)
# Times as msgspec writes them back (RFC 3339, UTC), so a decoded request re-encodes the same.
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda t: msgspec.json.encode(t).decode().strip('"'))
totals = {
    "totalAmount": money,
    "totalDiscount": money,
    "totalTax": money,
    "totalProcessingFees": money,
}


payment_line = st.fixed_dictionaries(
    {},
    optional={
        "serviceId": ids,
        "serviceName": texts,
        "serviceProvider": texts,
        "amount": money,
        "tax": money,
        "discount": money,
        "tags": tags,
        "category": tags,
        "extra": extras,
    },
)


refund_line = st.fixed_dictionaries(
    {},
    optional={
        "productId": ids,
        "quantity": st.floats(min_value=0, max_value=1e6, exclude_min=True),
        "price": money,
        "sku": texts,
        "tags": tags,
        "category": tags,
        "title": texts,
        "taxes": money,
        "discount": money,
        "extra": extras,
    },
)


VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "estimate": st.fixed_dictionaries(
        {"totalPaid": money},
        optional={
            "customerId": ids,
            **totals,
            "paymentDetails": st.lists(payment_line, max_size=5),
        },
    ),
    "hold": st.builds(
        lambda base, size: {**base, **size},
        st.fixed_dictionaries(
            {"customerId": ids, "checkoutId": ids},
            optional={
                "otp": st.text(max_size=32),
                "ignoreOTP": st.booleans(),
                "hash": st.text(max_size=512),
                "redeemNow": st.booleans(),
                "transactionId": ids,
            },
        ),
        st.fixed_dictionaries({"points": st.integers(1, 10**9)})
        | st.fixed_dictionaries({"amount": positive_money}),
    ),
    "finalize": st.fixed_dictionaries(
        {"customerId": ids, "paymentId": ids, "totalPaid": money},
        optional={
            "paymentDate": times,
            **totals,
            "paymentDetails": st.lists(payment_line, max_size=5),
            "redemption": st.fixed_dictionaries(
                {},
                optional={
                    "pointsHoldReference": ids,
                    "couponsLockReference": ids,
                    "couponCodes": st.lists(ids, max_size=20),
                },
            ),
            "guest": st.booleans(),
            "email": st.text(max_size=256),
            "mobile": st.text(max_size=32),
            "extra": extras,
            "cashbackConfigurations": st.fixed_dictionaries({"returnWindow": st.integers(0, 3650)}),
        },
    ),
    "refund": st.fixed_dictionaries(
        {"paymentId": ids, "refundId": ids},
        optional={
            "customerId": ids,
            "amount": positive_money,
            "refundDate": times,
            "lineItems": st.lists(refund_line, max_size=5),
        },
    ),
}


def pruned(value: Any) -> Any:
    """Absent and null mean the same on the wire, so compare documents without nulls."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def defaults(model: type[msgspec.Struct]) -> dict[str, Any]:
    return {
        f.encode_name: f.default
        for f in msgspec.structs.fields(model)
        if f.default is not msgspec.NODEFAULT
    }


# --- request models -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(
    endpoint=st.sampled_from(sorted(ENDPOINTS)),
    document=hostile_json | hostile_requests,
    ascii_only=st.booleans(),
)
def test_decoders_any_json_is_a_request_or_a_4xx(
    endpoint: str, document: Any, ascii_only: bool
) -> None:
    _, decoder, model = ENDPOINTS[endpoint]
    raw = encode(document, ascii_only=ascii_only)

    outcome = at_the_edge(decoder, raw)

    if isinstance(outcome, errors.ApiError):
        assert_4xx_for_the_pos(outcome)
    else:
        assert isinstance(outcome, model)


@settings(max_examples=200, deadline=None, database=None)
@given(
    request=st.one_of(*(st.tuples(st.just(name), VALID[name]) for name in sorted(VALID))),
    ascii_only=st.booleans(),
)
def test_decoders_valid_requests_round_trip_losslessly(
    request: tuple[str, dict[str, Any]], ascii_only: bool
) -> None:
    endpoint, document = request
    _, decoder, model_type = ENDPOINTS[endpoint]

    model = decoder.decode(encode(document, ascii_only=ascii_only))

    assert isinstance(model, model_type)
    again = msgspec.json.encode(model)
    assert decoder.decode(again) == model
    assert pruned(msgspec.json.decode(again)) == pruned({**defaults(model_type), **document})


# The fast properties above stand in for the HTTP edge; these bodies check that stand-in
# against the real app, so the two cannot drift apart.

EDGE_BODIES: list[bytes] = [
    b"[]",
    b'"x"',
    b"null",
    b"{}",
    b'{"totalPaid": NaN}',
    b'{"customerId": "\\ud800"}',
    b'{"paymentDetails": [{"amount": "1"}], "lineItems": [{"price": "1"}]}',
    b'{"redemption": {"pointsHoldReference": 7}, "amount": -1, "points": 0}',
    b'{"extra": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"customerId": "c", "checkoutId": "c", "paymentId": "p", "refundId": "r", "typo": 1}',
]


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_http_edge_agrees_with_the_decoders(make_sidecar: MakeSidecar, endpoint: str) -> None:
    client = await make_sidecar()
    path, decoder, _ = ENDPOINTS[endpoint]

    for raw in EDGE_BODIES:
        expected = at_the_edge(decoder, raw)
        response = await client.post(path, data=raw, headers={"Content-Type": "application/json"})

        body = await response.json()
        assert isinstance(expected, errors.ApiError), raw
        assert response.status == expected.status, (raw, body)
        assert body == expected.body() or expected.code == "MALFORMED_JSON", (raw, body)
        assert_error_shape(body, expected.code)


async def test_http_edge_invalid_utf8_is_malformed_json(make_sidecar: MakeSidecar) -> None:
    client = await make_sidecar()

    response = await client.post(
        "/v1/estimate-points",
        data=b'{"totalPaid": 1, "customerId": "\xff"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 400
    assert_error_shape(await response.json(), "MALFORMED_JSON")


def test_decoders_ids_refuse_a_trailing_newline() -> None:
    raw = b'{"customerId": "cust-1001\\n", "paymentId": "p-1", "totalPaid": 1}'

    outcome = at_the_edge(finalize_decoder, raw)

    assert isinstance(outcome, errors.ValidationFailed)

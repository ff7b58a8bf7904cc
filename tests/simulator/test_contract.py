"""The simulator is exactly as strict as Gameball's published spec: a request outside it is
refused the way Gameball refuses bad payloads (400 and a 3xxx code naming the field), recorded
for the test run, and a test that caused one fails."""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from multidict import MultiDict

from sidecar.simulator import SimulatorServer
from sidecar.simulator.contract import gameball_contract
from sidecar.simulator.schemas import Validator, compile_schema, date_time_checker, spec_document
from tests.support.clients import GameballClient
from tests.support.spec import validate_error

_ticks = itertools.count()
MERCHANT = {"uniqueId": "m-1", "name": "Corner Shop", "branch": {"uniqueId": "b-7"}}


def when() -> str:
    moment = datetime(2024, 10, 11, 10, 0, tzinfo=UTC) + timedelta(milliseconds=next(_ticks))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A body each POST operation accepts, touching the fields the cases below break.
VALID: dict[str, Callable[[], dict[str, Any]]] = {
    "/integrations/payments": lambda: {
        "customerId": "cust-1001",
        "paymentId": f"v-pay-{next(_ticks)}",
        "paymentDate": when(),
        "totalPaid": 10,
        "paymentDetails": [{"serviceId": "s-1", "amount": 10, "extra": {"size": "L", "n": 2}}],
        "redemption": {"couponCodes": ["TEN"]},
        "extra": {"terminalId": "till-3", "lane": 4},
        "merchant": MERCHANT,
        "channel": "pos",
    },
    "/integrations/payments/cashback": lambda: {
        "customerId": "cust-1001",
        "totalPaid": 10,
        "totalTax": 1,
        "paymentDetails": [{"serviceId": "s-1", "amount": 10, "extra": {"size": "L"}}],
    },
    "/integrations/transactions/hold": lambda: {
        "customerId": "cust-1001",
        "transactionTime": when(),
        "pointsToHold": 5,
        "ignoreOTP": True,
    },
    "/integrations/transactions/redeem": lambda: {
        "customerId": "cust-1001",
        "transactionId": f"v-red-{next(_ticks)}",
        "transactionTime": when(),
        "points": 5,
    },
    "/integrations/transactions/cashback": lambda: {
        "customerId": "cust-1001",
        "transactionId": f"v-cb-{next(_ticks)}",
        "transactionTime": when(),
        "amount": 5,
        "merchant": MERCHANT,
    },
    "/integrations/transactions/refund": lambda: {
        "customerId": "cust-1001",
        "refundTransactionId": f"v-ref-{next(_ticks)}",
        "reverseTransactionId": "never-paid",
        "transactionTime": when(),
        "refundAmount": 1,
        "lineItems": [{"productId": "s-1", "price": 1, "quantity": 1, "extra": {"size": "L"}}],
    },
    "/integrations/orders": lambda: {
        "customerId": "cust-1001",
        "orderId": f"v-ord-{next(_ticks)}",
        "orderDate": when(),
        "totalPaid": 10,
        "lineItems": [{"productId": "p-1", "quantity": 1, "price": 10, "extra": {"size": "L"}}],
        "redemption": {"couponCodes": ["TEN"]},
        "merchant": MERCHANT,
        "channel": "pos",
        "cashbackConfigurations": {"returnWindow": 0},
    },
    "/integrations/orders/cashback": lambda: {
        "customerId": "cust-1001",
        "totalPaid": 10,
        "totalDiscount": 0,
        "totalShipping": 0,
        "lineItems": [{"productId": "p-1", "quantity": 1, "price": 10}],
    },
    "/integrations/customers": lambda: {
        "customerId": f"v-cust-{next(_ticks)}",
        "customerAttributes": {"displayName": "V", "totalOrders": 2, "custom": {"tier": "x"}},
        "guest": False,
    },
    "/integrations/coupons/validate": lambda: {
        "customerId": "cust-1001",
        "coupons": ["PCT15"],
        "totalPurchaseAmount": 10,
    },
    "/integrations/transactions/manual": lambda: {
        "customerId": "cust-1001",
        "transactionId": f"v-man-{next(_ticks)}",
        "transactionTime": when(),
        "username": "sam",
        "reason": "goodwill",
        "points": 5,
        "expiryAfter": None,  # nullable: the spec's OpenAPI 3.0 keyword, honoured
    },
}

MISSING, WRONG_TYPE, INVALID = 3001, 3002, 3003
NAIVE_TIME = "2024-10-11T10:00:00.000"  # no zone: not an RFC 3339 date-time

# (operation, what is broken, JSON pointer, new value or None to delete, code).
_DELETE = object()
BROKEN: list[tuple[str, str, str, Any, int]] = [
    ("/integrations/payments", "null", "/redemption/couponCodes", None, WRONG_TYPE),
    ("/integrations/payments", "wrong type", "/totalPaid", "10", WRONG_TYPE),
    ("/integrations/payments", "missing", "/paymentId", _DELETE, MISSING),
    ("/integrations/payments", "date-time", "/paymentDate", NAIVE_TIME, INVALID),
    ("/integrations/payments", "extra object", "/extra/address", {"city": "x"}, WRONG_TYPE),
    ("/integrations/payments", "extra boolean", "/extra/vip", True, WRONG_TYPE),
    (
        "/integrations/payments",
        "line extra object",
        "/paymentDetails/0/extra/size",
        {"eu": 40},
        WRONG_TYPE,
    ),
    ("/integrations/payments", "enum", "/channel", "fax", INVALID),
    ("/integrations/payments/cashback", "null", "/totalTax", None, WRONG_TYPE),
    ("/integrations/payments/cashback", "wrong type", "/totalPaid", "10", WRONG_TYPE),
    ("/integrations/payments/cashback", "minimum", "/totalDiscount", -1, INVALID),
    (
        "/integrations/payments/cashback",
        "line extra object",
        "/paymentDetails/0/extra/size",
        {"eu": 40},
        WRONG_TYPE,
    ),
    ("/integrations/transactions/hold", "null", "/ignoreOTP", None, WRONG_TYPE),
    ("/integrations/transactions/hold", "wrong type", "/pointsToHold", 2.5, WRONG_TYPE),
    ("/integrations/transactions/hold", "missing", "/transactionTime", _DELETE, MISSING),
    (
        "/integrations/transactions/hold",
        "date-time",
        "/transactionTime",
        "2024-10-11 10:00:00Z",
        INVALID,
    ),
    ("/integrations/transactions/redeem", "null", "/holdReference", None, WRONG_TYPE),
    ("/integrations/transactions/redeem", "wrong type", "/points", "5", WRONG_TYPE),
    ("/integrations/transactions/redeem", "missing", "/transactionId", _DELETE, MISSING),
    ("/integrations/transactions/redeem", "date-time", "/transactionTime", "yesterday", INVALID),
    ("/integrations/transactions/redeem", "maxLength", "/reason", "x" * 256, INVALID),
    ("/integrations/transactions/cashback", "null", "/merchant", None, WRONG_TYPE),
    ("/integrations/transactions/cashback", "wrong type", "/amount", "5", WRONG_TYPE),
    ("/integrations/transactions/cashback", "missing", "/amount", _DELETE, MISSING),
    (
        "/integrations/transactions/cashback",
        "date-time",
        "/transactionTime",
        "2024-02-30T10:00:00Z",
        INVALID,
    ),
    ("/integrations/transactions/cashback", "branch id", "/merchant/branch", {}, MISSING),
    ("/integrations/transactions/refund", "null", "/lineItems/0/quantity", None, WRONG_TYPE),
    ("/integrations/transactions/refund", "wrong type", "/refundAmount", "1", WRONG_TYPE),
    ("/integrations/transactions/refund", "missing", "/reverseTransactionId", _DELETE, MISSING),
    ("/integrations/transactions/refund", "date-time", "/transactionTime", NAIVE_TIME, INVALID),
    (
        "/integrations/transactions/refund",
        "line extra object",
        "/lineItems/0/extra/size",
        {"eu": 40},
        WRONG_TYPE,
    ),
    ("/integrations/orders", "missing", "/orderDate", _DELETE, MISSING),
    ("/integrations/orders", "null", "/lineItems/0/price", None, WRONG_TYPE),
    ("/integrations/orders", "enum", "/channel", "fax", INVALID),
    ("/integrations/orders", "maximum", "/cashbackConfigurations/returnWindow", 7301, INVALID),
    (
        "/integrations/orders",
        "line extra object",
        "/lineItems/0/extra/size",
        {"eu": 40},
        WRONG_TYPE,
    ),
    ("/integrations/orders/cashback", "missing", "/totalShipping", _DELETE, MISSING),
    ("/integrations/orders/cashback", "minimum", "/totalDiscount", -1, INVALID),
    ("/integrations/customers", "wrong type", "/customerAttributes/totalOrders", 2.5, WRONG_TYPE),
    ("/integrations/customers", "null", "/guest", None, WRONG_TYPE),
    ("/integrations/coupons/validate", "missing", "/coupons", _DELETE, MISSING),
    ("/integrations/coupons/validate", "wrong type", "/coupons", "PCT15", WRONG_TYPE),
    ("/integrations/transactions/manual", "missing", "/reason", _DELETE, MISSING),
    ("/integrations/transactions/manual", "wrong type", "/points", 2.5, WRONG_TYPE),
    ("/integrations/transactions/manual", "minimum", "/expiryAfter", -1, INVALID),
]


def broken(path: str, pointer: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID[path]())
    *parents, last = pointer.strip("/").split("/")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return body


def field_of(pointer: str) -> str:
    """`/paymentDetails/0/extra/size` as the simulator names it: paymentDetails[0].extra.size"""
    text = ""
    for part in pointer.strip("/").split("/"):
        text += f"[{part}]" if part.isdigit() else ("." if text else "") + part
    return text


@pytest.mark.spec_violations_expected
@pytest.mark.parametrize(
    ("path", "pointer", "value", "code"),
    [
        pytest.param(p, ptr, v, c, id=f"{p.removeprefix('/integrations/')} {what}")
        for p, what, ptr, v, c in BROKEN
    ],
)
async def test_contract_out_of_spec_body_is_refused_named_and_recorded(
    simulator_client: GameballClient,
    simulator: SimulatorServer,
    path: str,
    pointer: str,
    value: Any,
    code: int,
) -> None:
    body = broken(path, pointer, value)
    # A missing branch uniqueId is named at the branch's own uniqueId.
    expected_pointer = pointer + "/uniqueId" if pointer.endswith("/branch") else pointer
    before = simulator.sim.ledger()

    status, answer = await simulator_client.post(path, body)

    assert (status, answer["code"]) == (400, code), answer
    validate_error(answer)
    assert f"'{field_of(expected_pointer)}'" in answer["message"]
    assert simulator.sim.ledger() == before
    (recorded,) = simulator.sim.spec_violations
    assert (recorded.method, recorded.path) == ("POST", "/api/v4.0" + path)
    assert (recorded.pointer, recorded.code) == (expected_pointer, code)
    assert recorded.field == field_of(expected_pointer)
    assert recorded.message == answer["message"]


@pytest.mark.spec_violations_expected
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": "ten"}, "limit"),
        ({"limit": "\u0661"}, "limit"),  # an Arabic-Indic digit: int() reads it, the spec not
        ({"startAfter": "+5"}, "startAfter"),
        ({"startAfter": "1.5"}, "startAfter"),
        ({"limit": ""}, "limit"),
    ],
)
async def test_contract_query_integers_must_be_integers(
    simulator_client: GameballClient,
    simulator: SimulatorServer,
    params: dict[str, str],
    name: str,
) -> None:
    status, answer = await simulator_client.get("/integrations/transactions", params)

    assert (status, answer["code"]) == (400, WRONG_TYPE), answer
    assert f"'{name}'" in answer["message"]
    (recorded,) = simulator.sim.spec_violations
    assert (recorded.location, recorded.field, recorded.pointer) == ("query", name, f"/{name}")


@pytest.mark.spec_violations_expected
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v4.0/integrations/transactions/"),  # what a `..` hold reference becomes
        ("GET", "/api/v4.0/integrations/balance"),
        ("PUT", "/api/v4.0/integrations/payments"),
        ("POST", "/integrations/payments"),  # the base URL without /api/v4.0
    ],
)
async def test_contract_a_call_the_spec_does_not_list_is_recorded(
    simulator_client: GameballClient, simulator: SimulatorServer, method: str, path: str
) -> None:
    url = f"http://127.0.0.1:{simulator.port}{path}"
    body = VALID["/integrations/payments"]()

    async with simulator_client.session.request(
        method, url, json=body, headers=simulator_client.headers
    ) as response:
        status = response.status

    assert status in (404, 405)
    (recorded,) = simulator.sim.spec_violations
    assert (recorded.method, recorded.path, recorded.code) == (method, path, None)
    assert recorded.location == "path" and "the spec has no" in recorded.message
    assert simulator.sim.ledger() == []


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/integrations/customers/c-1/stamps/7", {}, []),
        ("/integrations/customers/c-1/stamps/seven", {}, [("path", "challengeId", WRONG_TYPE)]),
        ("/integrations/referrals/validate", {}, [("query", "referrerCode", MISSING)]),
        ("/integrations/referrals/validate", {"referrerCode": "R1"}, []),
        (
            "/integrations/customers/c-1/activities",
            {"activityType": "Bribe", "limit": "500"},
            [("query", "limit", INVALID), ("query", "activityType", INVALID)],
        ),
        ("/integrations/customers/a%2Fb/balance", {}, []),  # an encoded slash stays an id
    ],
)
def test_contract_path_and_query_parameters_follow_each_operations_schema(
    path: str, query: dict[str, str], expected: list[tuple[str, str, int]]
) -> None:
    """Operations the simulator does not serve are held to the spec too (integer path ids,
    required, enum and maximum query parameters)."""
    found = gameball_contract().check("GET", "/api/v4.0" + path, MultiDict(query), b"")

    assert sorted((v.location, v.field, v.code) for v in found) == sorted(expected)


async def test_contract_valid_requests_to_every_served_operation_are_not_recorded(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    held = (
        await simulator_client.post(
            "/integrations/transactions/hold", VALID["/integrations/transactions/hold"]()
        )
    )[1]["holdReference"]

    answers = [await simulator_client.post(path, make()) for path, make in VALID.items()]
    answers += [
        await simulator_client.get(f"/integrations/transactions/hold/{held}"),
        await simulator_client.delete(f"/integrations/transactions/hold/{held}"),
        await simulator_client.get("/integrations/customers/cust-1001/balance"),
        await simulator_client.get("/integrations/configurations/cashback", {"customerId": "x"}),
        await simulator_client.get("/integrations/configurations/redemption"),
        await simulator_client.get(
            "/integrations/transactions",
            {"customerId": "cust-1001", "limit": "5", "startAfter": "0", "direction": "+"},
        ),
    ]

    assert simulator.sim.spec_violations == []
    # Business answers (the refund names a payment never made) are not payload refusals.
    assert [status for status, _ in answers] == [200] * 5 + [404] + [200] * 11


@pytest.mark.spec_violations_expected
async def test_contract_violation_is_recorded_even_when_a_fault_answers(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    """During an outage the bad body is still what the sidecar sent."""
    simulator.sim.set_fault("error5xx", status=503)
    body = broken("/integrations/payments", "/redemption/couponsLockReference", None)

    status, _ = await simulator_client.post("/integrations/payments", body)

    assert status == 503
    (recorded,) = simulator.sim.spec_violations
    assert recorded.field == "redemption.couponsLockReference"


@pytest.mark.spec_violations_expected
async def test_contract_violations_are_listed_redacted_and_cleared_by_reset(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = {
        **VALID["/integrations/transactions/hold"](),
        "email": "jane@example.com",
        "otp": "123456",
        "pointsToHold": "5",
    }

    await simulator_client.post("/integrations/transactions/hold", body)
    status, listed = await simulator_client.control("GET", "/violations")
    await simulator_client.control("POST", "/reset")
    _, after_reset = await simulator_client.control("GET", "/violations")

    assert status == 200 and listed["count"] == 1
    (violation,) = listed["violations"]
    assert violation["field"] == "pointsToHold" and violation["code"] == WRONG_TYPE
    assert violation["body"]["email"] == violation["body"]["otp"] == "REDACTED"
    assert violation["body"]["customerId"] == "cust-1001"
    assert "jane@example.com" not in str(listed)
    assert after_reset == {"violations": [], "count": 0}


INNER_TESTS = """
import aiohttp
import pytest

HEADERS = {"APIKey": "k", "SecretKey": "s"}
HOLD = {"customerId": "cust-1001", "transactionTime": None, "pointsToHold": 5}


async def send(simulator, body):
    async with aiohttp.ClientSession() as session:
        url = simulator.base_url + "/integrations/transactions/hold"
        async with session.post(url, json=body, headers=HEADERS) as response:
            return response.status


async def test_sends_a_null_time(simulator):
    assert await send(simulator, HOLD) == 400


@pytest.mark.spec_violations_expected
async def test_sends_a_null_time_on_purpose(simulator):
    assert await send(simulator, HOLD) == 400


async def test_sends_a_valid_hold(simulator):
    body = {**HOLD, "transactionTime": "2024-10-11T10:00:00.000Z"}
    assert await send(simulator, body) == 200
"""


def test_contract_fixture_fails_a_test_that_sent_gameball_an_out_of_spec_request(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.support.fixtures"]')
    pytester.makeini(
        "[pytest]\n"
        "asyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "addopts = --strict-markers\n"
        "markers =\n"
        "    spec_violations_expected: on purpose\n"
    )
    pytester.makepyfile(test_inner=INNER_TESTS)

    result = pytester.runpytest_inprocess()

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_sends_a_null_time*",
            "*1 request(s) to Gameball broke its published spec:*",
            "*POST /api/v4.0/integrations/transactions/hold: Invalid type for 'transactionTime'"
            ": expected string, got null.*",
        ]
    )


# A payment using every property of the spec's schema; the property test below breaks it.
EVERY_FIELD: dict[str, Any] = {
    "customerId": "c-1",
    "email": "a@b.c",
    "mobile": "+1",
    "paymentId": "p-1",
    "paymentDate": "2024-10-11T10:00:00Z",
    "totalPaid": 10,
    "totalAmount": 11,
    "totalDiscount": 1,
    "totalProcessingFees": 0.5,
    "totalTax": 1.5,
    "paymentDetails": [
        {
            "serviceId": "s",
            "serviceName": "n",
            "serviceProvider": "p",
            "amount": 10,
            "tax": 1,
            "discount": 0,
            "tags": ["t"],
            "category": ["c"],
            "extra": {"size": "L", "n": 1},
        }
    ],
    "redemption": {"pointsHoldReference": "h", "couponsLockReference": "l", "couponCodes": ["x"]},
    "extra": {"till": "t", "lane": 2},
    "merchant": {"uniqueId": "m", "name": "n", "branch": {"uniqueId": "b", "name": "n"}},
    "guest": False,
    "channel": "pos",
    "cashbackConfigurations": {"returnWindow": 7},
}


def pointers(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            found += pointers(child, (*at, key))
    return found


PLACES = pointers(EVERY_FIELD)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "pos", "fax", "2024-10-11T10:00:00Z", "2024-10-11T10:00:00"]),
)
JSON = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=2)
        | st.dictionaries(st.sampled_from(["uniqueId", "name", "size"]), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def broken_payments(draw: st.DrawFn) -> Any:
    body: Any = copy.deepcopy(EVERY_FIELD)
    for place in draw(st.lists(st.sampled_from(PLACES), max_size=4)):
        *parents, last = place
        node = body
        try:
            for part in parents:
                node = node[part]
            if draw(st.booleans()) and isinstance(node, dict):
                node.pop(last, None)
            else:
                node[last] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change already replaced what led here
    return draw(st.one_of(st.just(body), JSON)) if draw(st.integers(0, 19)) == 0 else body


SAMPLES: list[Any] = [
    _DELETE,
    None,
    True,
    0,
    1.5,
    -1,
    "",
    "pos",
    "2024-10-11T10:00:00",
    [],
    ["x", 1],
    {},
    {"uniqueId": 1, "size": {}},
]


@functools.cache
def payment_validators() -> tuple[Any, Any]:
    """The simulator's validator and jsonschema's own, for the payments body."""
    spec = spec_document()["paths"]["/api/v4.0/integrations/payments"]["post"]
    schema = compile_schema(spec["requestBody"]["content"]["application/json"]["schema"])
    checker = date_time_checker()
    return (
        Validator(schema, format_checker=checker),
        Draft202012Validator(schema, format_checker=checker),
    )


def judged(body: Any) -> tuple[list[str], list[str]]:
    """Both validators' errors for a payment body, comparable."""

    def errors(validator: Any) -> list[str]:
        found = validator.iter_errors(body)
        return sorted(repr((list(e.absolute_path), e.validator, e.message)) for e in found)

    fast, plain = payment_validators()
    return errors(fast), errors(plain)


def test_contract_validator_judges_every_single_change_like_jsonschema_itself() -> None:
    """The simulator's `properties` shortcut must never change a verdict or an error: every
    field of a full payment replaced by each kind of value, or removed."""
    differing = []
    for place, value in itertools.product(PLACES, SAMPLES):
        body: Any = copy.deepcopy(EVERY_FIELD)
        *parents, last = place
        node = body
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = copy.deepcopy(value)
        fast, plain = judged(body)
        if fast != plain:
            differing.append((place, value, fast, plain))

    assert differing == []


@settings(max_examples=200, deadline=None)
@given(body=broken_payments())
def test_contract_validator_judges_many_changes_like_jsonschema_itself(body: Any) -> None:
    fast, plain = judged(body)

    assert fast == plain

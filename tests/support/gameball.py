"""Gameball's API as the tests call it on the simulator, without the sidecar: request bodies
with distinct timestamps, the calls most tests start from, and one successful call of every
operation the simulator serves."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sidecar.simulator import SimulatorServer
from sidecar.simulator.app import PREFIX, create_api_app

from .clients import GameballClient
from .spec import validate_error

_BASE_TIME = datetime(2024, 10, 11, 10, 0, tzinfo=UTC)
_ticks = itertools.count()
MERCHANT = {"uniqueId": "m-1", "name": "Corner Shop", "branch": {"uniqueId": "b-7", "name": "Main"}}
ORDERS = "/integrations/orders"
MATS = {"productId": "mat", "sku": "MAT-1", "quantity": 3, "price": 10, "tags": ["promo"]}
BOTTLES = {"productId": "bottle", "quantity": 2, "price": 5, "category": ["Promo"]}


def when() -> str:
    """A distinct millisecond timestamp per call, as the sidecar sends them (avoids 9003)."""
    moment = _BASE_TIME + timedelta(milliseconds=next(_ticks))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payment(customer_id: str, payment_id: str, total_paid: float, **extra: Any) -> dict[str, Any]:
    body = {
        "customerId": customer_id,
        "paymentId": payment_id,
        "paymentDate": when(),
        "totalPaid": total_paid,
    }
    return body | extra


async def expect_error(
    client: GameballClient, method: str, path: str, body: Any, status: int, code: int
) -> dict[str, Any]:
    got_status, answer = await client.call(method, path, body)
    assert (got_status, answer.get("code")) == (status, code), answer
    validate_error(answer)
    return dict(answer)


async def balance(client: GameballClient, customer_id: str) -> dict[str, Any]:
    status, answer = await client.get(f"/integrations/customers/{customer_id}/balance")
    assert status == 200
    return dict(answer)


async def hold(client: GameballClient, customer_id: str, points: int) -> str:
    body = {"customerId": customer_id, "transactionTime": when(), "pointsToHold": points}
    status, answer = await client.post("/integrations/transactions/hold", body)
    assert status == 200, answer
    return str(answer["holdReference"])


def order(customer_id: str, order_id: str, total_paid: float, **extra: Any) -> dict[str, Any]:
    body = {"customerId": customer_id, "orderId": order_id, "orderDate": when()}
    return body | {"totalPaid": total_paid} | extra


def served_operations(simulator: SimulatorServer) -> set[tuple[str, str]]:
    """Every (method, spec path) the simulator's API app answers."""
    app = create_api_app(simulator.sim, simulator)
    return {
        (route.method, route.resource.canonical.removeprefix(PREFIX))
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


async def payment_traffic(client: GameballClient) -> list[tuple[int, Any]]:
    """One successful call of each payment-side operation."""
    customer = "cust-1001"
    status, held = await client.post(
        "/integrations/transactions/hold",
        {"customerId": customer, "transactionTime": when(), "pointsToHold": 10},
    )
    answers: list[tuple[int, Any]] = [(status, held)]
    reference = held["holdReference"]
    answers += [
        await client.get(f"/integrations/transactions/hold/{reference}"),
        await client.delete(f"/integrations/transactions/hold/{reference}"),
        await client.post(
            "/integrations/payments/cashback", {"customerId": customer, "totalPaid": 9}
        ),
        await client.post("/integrations/payments", payment(customer, "answers-pay", 20)),
        await client.post(
            "/integrations/transactions/redeem",
            {
                "customerId": customer,
                "transactionId": "answers-red",
                "transactionTime": when(),
                "points": 5,
            },
        ),
        await client.post(
            "/integrations/transactions/cashback",
            {
                "customerId": customer,
                "transactionId": "answers-cb",
                "transactionTime": when(),
                "amount": 5,
            },
        ),
        await client.post(
            "/integrations/transactions/refund",
            {
                "customerId": customer,
                "refundTransactionId": "answers-ref",
                "reverseTransactionId": "answers-pay",
                "transactionTime": when(),
                "refundAmount": 5,
            },
        ),
        await client.get(f"/integrations/customers/{customer}/balance"),
        await client.get("/integrations/transactions", {"customerId": customer}),
        await client.get("/integrations/configurations/cashback", {"customerId": customer}),
        await client.get("/integrations/configurations/redemption"),
    ]
    return answers


async def retail_traffic(client: GameballClient) -> list[tuple[int, Any]]:
    """One successful call of each retail operation: a registration read back, an order quote,
    a coupon lock and its release, an order burning a second lock, manual points."""
    customer = "answers-1"
    answers = [
        await client.post(
            "/integrations/customers",
            {"customerId": customer, "customerAttributes": {"displayName": "A", "city": "Cairo"}},
        ),
        await client.get(f"/integrations/customers/{customer}"),
        await client.post(
            "/integrations/orders/cashback",
            {
                "customerId": customer,
                "totalPaid": 30,
                "totalDiscount": 0,
                "totalShipping": 0,
                "lineItems": [{"productId": "p", "quantity": 3, "price": 10, "tags": ["promo"]}],
            },
        ),
    ]
    status, locked = await client.post(
        "/integrations/coupons/validate",
        {"customerId": customer, "coupons": ["PCT15"], "lock": True},
    )
    answers += [
        (status, locked),
        await client.delete(f"/integrations/coupons/{locked['lockReference']}"),
    ]
    _, burned = await client.post(
        "/integrations/coupons/validate",
        {"customerId": customer, "coupons": ["SAVE10"], "lock": True},
    )
    answers += [
        await client.post(
            "/integrations/orders",
            {
                "customerId": customer,
                "orderId": f"{customer}-order",
                "orderDate": when(),
                "totalPaid": 20,
                "lineItems": [{"productId": "p", "quantity": 2, "price": 15}],
                "redemption": {"couponsLockReference": burned["lockReference"]},
            },
        ),
        await client.post(
            "/integrations/transactions/manual",
            {
                "customerId": customer,
                "transactionId": f"{customer}-manual",
                "username": "sam",
                "reason": "goodwill",
                "points": 10,
                "expiryAfter": 30,
            },
        ),
    ]
    return answers

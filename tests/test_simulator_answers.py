"""Every answer the simulator gives fits Gameball's spec: each operation it serves is called
directly, the answers are validated against the spec's response schema, and none is missed."""

from __future__ import annotations

from typing import Any

from sidecar.simulator import SimulatorServer
from sidecar.simulator.app import PREFIX, create_api_app
from sidecar.simulator.contract import gameball_contract
from tests.gameball_spec import validate_response
from tests.simulator_fixtures import GameballClient
from tests.test_simulator import payment, when


def template(method: str, path: str) -> str:
    """The spec path a journal entry's request called, e.g. /integrations/customers/{customerId}."""
    found = gameball_contract().template(method, path)
    assert found is not None, f"{method} {path} is no operation of the spec"
    return found


def served_operations(simulator: SimulatorServer) -> set[tuple[str, str]]:
    """Every (method, spec path) the simulator's API app answers."""
    app = create_api_app(simulator.sim, simulator)
    return {
        (route.method, route.resource.canonical.removeprefix(PREFIX))
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


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


async def test_answers_of_every_served_operation_fit_the_spec(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    answers = await payment_traffic(simulator_client) + await retail_traffic(simulator_client)

    journal = [r for r in simulator.sim.requests if r["path"].startswith(PREFIX + "/")]

    assert [status for status, _ in answers] == [200] * len(answers)
    called = {(r["method"], template(r["method"], r["path"])) for r in journal}
    assert called == served_operations(simulator)
    for entry in journal:
        validate_response(
            entry["method"], template(entry["method"], entry["path"]), 200, entry["response"]
        )


async def test_answers_list_every_kind_of_transaction_within_the_spec(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await payment_traffic(simulator_client)
    await retail_traffic(simulator_client)
    simulator.sim.advance_clock(31 * 86_400)  # the manual points expire

    _, listed = await simulator_client.get("/integrations/transactions", {"limit": "200"})

    validate_response("GET", "/integrations/transactions", 200, listed)
    assert {row["type"] for row in listed["transactions"]} == {
        "AchievementReward",
        "PaymentReward",
        "Redemption",
        "Cancel",
        "ManualAccumulation",
        "Expiry",
    }

"""The transaction list and the balance over a real socket, with every kind of transaction in
them; the programme's points lifetime; amount-only cashback checked against its spec."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.rules import Programme
from tests.support.clients import GameballClient
from tests.support.gameball import ORDERS, balance, expect_error, hold, order, when
from tests.support.spec import validate_response

LIST = "/integrations/transactions"
CASHBACK = "/integrations/transactions/cashback"


async def every_kind(client: GameballClient, customer_id: str) -> None:
    """A registration, an order burning a hold, its partial refund, a cashback and manual
    points both ways: one of each row a customer's history can hold."""
    await client.post("/integrations/customers", {"customerId": customer_id})
    await client.post(
        "/integrations/transactions/manual",
        {
            "customerId": customer_id,
            "transactionId": f"{customer_id}-m+",
            "username": "sam",
            "reason": "goodwill",
            "points": 200,
        },
    )
    reference = await hold(client, customer_id, 100)
    await client.post(
        ORDERS,
        order(
            customer_id,
            f"{customer_id}-o",
            40,
            lineItems=[{"productId": "a", "quantity": 2, "price": 20}],
            redemption={"pointsHoldReference": reference},
        ),
    )
    await client.post(
        "/integrations/transactions/refund",
        {
            "customerId": customer_id,
            "refundTransactionId": f"{customer_id}-r",
            "reverseTransactionId": f"{customer_id}-o",
            "transactionTime": when(),
            "lineItems": [{"productId": "a", "quantity": 1}],
        },
    )
    await client.post(
        CASHBACK,
        {
            "customerId": customer_id,
            "transactionId": f"{customer_id}-c",
            "transactionTime": when(),
            "amount": 10,
        },
    )
    await client.post(
        "/integrations/transactions/manual",
        {
            "customerId": customer_id,
            "transactionId": f"{customer_id}-m-",
            "username": "sam",
            "reason": "correction",
            "points": -5,
        },
    )


async def test_list_holds_every_kind_with_the_specs_fields(
    simulator_client: GameballClient,
) -> None:
    await every_kind(simulator_client, "hist")

    status, listed = await simulator_client.get(LIST, {"customerId": "hist"})

    assert status == 200
    validate_response("GET", LIST, 200, listed)
    kinds = [(row["type"], row["direction"], row["points"]) for row in listed["transactions"]]
    assert kinds == [
        ("AchievementReward", "+", 50),
        ("ManualAccumulation", "+", 200),
        ("Redemption", "-", 100),
        ("PaymentReward", "+", 40),
        ("Cancel", "-", 20),
        ("Refund", "+", 50),
        ("PaymentReward", "+", 10),
        ("ManualDeduction", "-", 5),
    ]
    balances = [(r["pointsBalanceBefore"], r["pointsBalanceAfter"]) for r in listed["transactions"]]
    assert all(after == nxt for (_, after), (nxt, _) in itertools.pairwise(balances))
    assert balances[-1][1] == (await balance(simulator_client, "hist"))["totalPointsBalance"] == 225
    assert (listed["count"], listed["hasMore"]) == (8, False)


async def test_list_pages_after_an_id_and_filters_by_direction_and_status(
    simulator_client: GameballClient,
) -> None:
    await every_kind(simulator_client, "pg")
    await simulator_client.post(
        CASHBACK,
        {
            "customerId": "pg",
            "transactionId": "pg-pending",
            "transactionTime": when(),
            "amount": 3,
            "configurations": {"returnWindow": 7},
        },
    )

    _, first = await simulator_client.get(LIST, {"customerId": "pg", "limit": "3"})
    after = first["transactions"][-1]["gameballTransactionId"]
    _, second = await simulator_client.get(
        LIST, {"customerId": "pg", "limit": "3", "startAfter": after}
    )
    _, minus = await simulator_client.get(LIST, {"customerId": "pg", "direction": "-"})
    _, pending = await simulator_client.get(LIST, {"customerId": "pg", "status": "pending"})
    _, nobody = await simulator_client.get(LIST, {"customerId": "nobody"})

    assert (first["count"], first["hasMore"]) == (3, True)
    assert [r["type"] for r in second["transactions"]] == ["PaymentReward", "Cancel", "Refund"]
    assert {r["type"] for r in minus["transactions"]} == {"Redemption", "Cancel", "ManualDeduction"}
    assert [r["transactionId"] for r in pending["transactions"]] == ["pg-pending"]
    assert nobody == {"transactions": [], "count": 0, "hasMore": False}


async def test_balance_answers_every_field_of_the_spec(simulator_client: GameballClient) -> None:
    await every_kind(simulator_client, "bal")

    answer = await balance(simulator_client, "bal")

    validate_response("GET", "/integrations/customers/{customerId}/balance", 200, answer)
    assert answer == {
        "totalPointsBalance": 225,
        "totalPointsValue": 22.5,
        "availablePointsBalance": 225,
        "availablePointsValue": 22.5,
        "pendingPoints": 0,
        "pendingPointsValue": 0.0,
        "currency": "USD",
        "pointsName": "Points",
        "nextExpiringPointsAmount": 0,
        "nextExpiringPointsValue": 0,
        "totalEarnedPoints": 50 + 200 + 40 - 20 + 10,
    }


@pytest.fixture
async def lifetime_client() -> AsyncIterator[GameballClient]:
    """A simulator whose points expire 90 days after they are earned."""
    server = SimulatorServer(
        Simulator(rate_limits_enabled=False, programme=Programme(points_lifetime_days=90))
    )
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield GameballClient(session, server)
    finally:
        await server.stop()


async def test_points_lifetime_makes_earned_points_expire(lifetime_client: GameballClient) -> None:
    sim = lifetime_client.server.sim
    await lifetime_client.post(ORDERS, order("cust-1001", "life-1", 30))
    sim.advance_clock(10 * 86_400)
    await lifetime_client.post(ORDERS, order("cust-1001", "life-2", 20))

    soon = await balance(lifetime_client, "cust-1001")
    sim.advance_clock(80 * 86_400)
    later = await balance(lifetime_client, "cust-1001")
    _, listed = await lifetime_client.get(LIST, {"customerId": "cust-1001"})

    assert (soon["nextExpiringPointsAmount"], soon["totalPointsBalance"]) == (30, 550)
    assert (later["nextExpiringPointsAmount"], later["totalPointsBalance"]) == (20, 520)
    rows = listed["transactions"]
    assert [(r["type"], r["status"]) for r in rows] == [
        ("PaymentReward", "Expired"),
        ("PaymentReward", "Active"),
        ("Expiry", "Active"),
    ]
    assert rows[0]["expiryDate"].endswith("Z") and rows[2]["points"] == 30
    validate_response("GET", LIST, 200, listed)


async def test_cashback_answers_the_value_of_the_points_and_is_refundable(
    simulator_client: GameballClient,
) -> None:
    body = {
        "customerId": "cust-3003",
        "transactionId": "cb-v",
        "transactionTime": when(),
        "amount": 40,
    }

    status, answer = await simulator_client.post(CASHBACK, body)
    await expect_error(simulator_client, "POST", CASHBACK, body, 422, 9004)
    await expect_error(
        simulator_client, "POST", CASHBACK, {**body, "transactionId": "cb-w"}, 422, 9003
    )
    _, refunded = await simulator_client.post(
        "/integrations/transactions/refund",
        {
            "customerId": "cust-3003",
            "refundTransactionId": "cb-v-ref",
            "reverseTransactionId": "cb-v",
            "transactionTime": when(),
        },
    )

    assert status == 200
    validate_response("POST", CASHBACK, 200, answer)
    assert (answer["rewardEquivalentPoints"], answer["rewardAmount"]) == (60, 6.0)
    assert refunded["refundEquivalentPoints"] == 60
    assert (await balance(simulator_client, "cust-3003"))["totalPointsBalance"] == 1200


async def test_cashback_of_nothing_is_refused(simulator_client: GameballClient) -> None:
    body = {
        "customerId": "cust-3003",
        "transactionId": "cb-0",
        "transactionTime": when(),
        "amount": 0,
    }

    await expect_error(simulator_client, "POST", CASHBACK, body, 422, 3003)

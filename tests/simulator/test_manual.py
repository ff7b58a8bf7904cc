"""Manual transactions over a real socket: who and why in the ledger, deductions limited to the
balance, the spec's own 400 bodies, and points that expire after expiryAfter days."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.simulator import SimulatorServer
from tests.support.clients import GameballClient
from tests.support.gameball import balance, expect_error, payment, when
from tests.support.spec import validate_legacy_error, validate_request, validate_response

MANUAL = "/integrations/transactions/manual"


def manual(transaction_id: str, customer_id: str = "cust-1001", **extra: Any) -> dict[str, Any]:
    body = {
        "customerId": customer_id,
        "transactionId": transaction_id,
        "transactionTime": when(),
        "username": "manager.sam",
        "reason": "Broken bag at the till",
    }
    return body | extra


async def test_manual_points_added_are_listed_with_username_and_reason(
    simulator_client: GameballClient,
) -> None:
    body = manual("man-1", points=75)
    validate_request("POST", MANUAL, body)

    status, answer = await simulator_client.post(MANUAL, body)
    _, listed = await simulator_client.get(
        "/integrations/transactions", {"customerId": "cust-1001"}
    )

    assert status == 200
    validate_response("POST", MANUAL, 200, answer)
    assert (answer["transactionId"], answer["points"], answer["amount"]) == ("man-1", 75, 7.5)
    (row,) = listed["transactions"]
    assert (row["type"], row["direction"], row["points"]) == ("ManualAccumulation", "+", 75)
    assert (row["reason"], row["username"]) == ("Broken bag at the till", "manager.sam")
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 575


async def test_manual_deduction_takes_points_and_never_more_than_available(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    held = {"customerId": "cust-1001", "transactionTime": when(), "pointsToHold": 400}
    await simulator_client.post("/integrations/transactions/hold", held)

    status, answer = await simulator_client.post(MANUAL, manual("man-d1", points=-60))
    await expect_error(simulator_client, "POST", MANUAL, manual("man-d2", points=-41), 422, 9008)
    await expect_error(
        simulator_client, "POST", MANUAL, manual("man-d3", "nobody", points=-1), 422, 9008
    )

    assert (status, answer["points"]) == (200, -60)
    rows = [(r["type"], r["direction"], r["points"]) for r in simulator.sim.ledger()]
    assert rows == [("ManualDeduction", "-", 60)]
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 40
    await expect_error(
        simulator_client, "GET", "/integrations/customers/nobody/balance", None, 404, 7000
    )


async def test_manual_amount_turns_into_points_by_the_customers_tier(
    simulator_client: GameballClient,
) -> None:
    _, added = await simulator_client.post(MANUAL, manual("man-a1", "cust-2002", amount=12.5))
    _, taken = await simulator_client.post(MANUAL, manual("man-a2", "cust-2002", amount=-5))
    _, new = await simulator_client.post(MANUAL, manual("man-a3", "first-timer", amount=3))

    assert (added["points"], added["amount"]) == (25, 12.5)  # Gold: 2 points per 1
    assert (taken["points"], taken["amount"]) == (-10, -5)
    assert new["points"] == 3
    assert (await balance(simulator_client, "first-timer"))["totalPointsBalance"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "A rewarding criteria is required"),
        ({"points": 5, "amount": 1}, "Only one rewarding method may be specified"),
        ({"points": -5, "expiryAfter": 30}, "Deduction cannot have expiry"),
    ],
)
async def test_manual_refusals_answer_the_specs_400_bodies(
    simulator_client: GameballClient,
    simulator: SimulatorServer,
    extra: dict[str, Any],
    message: str,
) -> None:
    status, answer = await simulator_client.post(MANUAL, manual("man-bad", **extra))

    assert (status, answer) == (400, {"error": 400, "message": message})
    validate_legacy_error(answer)
    assert simulator.sim.ledger() == []


async def test_manual_id_is_9004_against_any_transaction_and_cannot_be_refunded(
    simulator_client: GameballClient,
) -> None:
    await simulator_client.post("/integrations/payments", payment("cust-1001", "pay-m", 10))
    await simulator_client.post(MANUAL, manual("man-r", points=10))
    refund = {
        "customerId": "cust-1001",
        "refundTransactionId": "ref-m",
        "reverseTransactionId": "man-r",
        "transactionTime": when(),
    }

    await expect_error(simulator_client, "POST", MANUAL, manual("pay-m", points=1), 422, 9004)
    await expect_error(simulator_client, "POST", MANUAL, manual("man-r", points=1), 422, 9004)
    await expect_error(
        simulator_client, "POST", "/integrations/transactions/refund", refund, 422, 9000
    )


async def test_manual_without_a_time_is_stamped_by_gameball(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    first = manual("man-t1", points=1, expiryAfter=None)
    del first["transactionTime"]

    one, _ = await simulator_client.post(MANUAL, first)
    two, _ = await simulator_client.post(MANUAL, {**first, "transactionId": "man-t2"})

    assert (one, two) == (200, 200)
    (row, _) = simulator.sim.ledger("cust-1001")
    assert row["transactionTime"].endswith("Z") and "expiryDate" not in row


async def test_manual_expiry_after_makes_points_expire_on_the_clock(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post(MANUAL, manual("man-x", points=120, expiryAfter=30))
    await simulator_client.post(
        "/integrations/transactions/redeem",
        {
            "customerId": "cust-1001",
            "transactionId": "red-x",
            "transactionTime": when(),
            "points": 20,
        },
    )

    soon = await balance(simulator_client, "cust-1001")
    simulator.sim.advance_clock(30 * 86_400)
    later = await balance(simulator_client, "cust-1001")
    _, expired = await simulator_client.get("/integrations/transactions", {"status": "Expired"})

    validate_response("GET", "/integrations/customers/{customerId}/balance", 200, soon)
    # The redeem spent the soonest-expiring points first: 100 of the 120 are left to expire.
    assert (soon["nextExpiringPointsAmount"], soon["nextExpiringPointsValue"]) == (100, 10.0)
    assert soon["nextExpiringPointsDate"].startswith("2")
    assert soon["totalPointsBalance"] == 600
    assert (later["totalPointsBalance"], later["nextExpiringPointsAmount"]) == (500, 0)
    assert "nextExpiringPointsDate" not in later
    rows = simulator.sim.ledger("cust-1001")
    assert (rows[-1]["type"], rows[-1]["points"], rows[-1]["pointsBalanceAfter"]) == (
        "Expiry",
        100,
        500,
    )
    assert [row["transactionId"] for row in expired["transactions"]] == ["man-x"]

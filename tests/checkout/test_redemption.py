"""Redeeming at once (``redeemNow``): under an id of its own, never the sale's; a lost answer is
found out by asking again, and an outcome still unknown is said so and settled for the resend."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import Client, assert_error_shape, finalize, hold, ledger, payment
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_drained, wait_until


async def test_redeem_whose_answer_was_lost_succeeds_on_retry(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    request = {"redeemNow": True, "transactionId": "lost-redeem"}
    simulator.sim.set_fault("drop_response", paths=["/transactions/redeem"], count=1)
    first = await sidecar.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": "lr-1", "points": 100, **request},
    )

    second = await hold(sidecar, "lr-1", 100, **request)
    await wait_drained(sidecar)

    # The sidecar finds out within the budget that the redeem landed (the hold is used).
    assert first.status == 200 and (await first.json())["state"] == "used"
    assert second["state"] == "used" and second["redemption"]["redeemedPoints"] == 100
    balance = simulator.sim.balance("cust-1001")
    assert balance["availablePointsBalance"] == 400  # burned once, the spare hold released


# Regression: "Already exists" (9004/9001) was trusted on a first send.


async def test_redeem_now_does_not_take_the_sale_id(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "rn-1", 100, redeemNow=True, transactionId="S1")

    code, body = await finalize(sidecar, payment("cust-1001", "S1", 50))

    assert held["redemption"] == {
        "transactionId": "S1",
        "redeemedPoints": 100.0,
        "redeemedAmount": 10.0,
    }
    assert code == 200 and body["rewardedPoints"] == 50 and body["outcome"] == "ok"
    kinds = [(t, kind) for t, kind, _ in ledger(simulator, "cust-1001")]
    assert ("S1", "PaymentReward") in kinds and ("redeem-S1", "Redemption") in kinds


async def test_second_redeem_now_with_the_same_transaction_id_is_refused(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await hold(sidecar, "rn-2", 100, redeemNow=True, transactionId="S2")

    response = await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            "customerId": "cust-1001",
            "checkoutId": "rn-3",
            "points": 300,
            "redeemNow": True,
            "transactionId": "S2",
        },
    )
    body = await response.json()
    await wait_drained(sidecar)

    assert response.status == 409
    assert_error_shape(body, "TRANSACTION_ID_TAKEN")
    redeemed = [p for _, kind, p in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == [100]
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == 400  # nothing held


# Regression: a lost redeem answer told the cashier nothing was redeemed.


async def test_lost_redeem_answer_is_found_out_within_the_budget(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("drop_response", paths=["/transactions/redeem"], count=1)

    held = await hold(sidecar, "lost-1", 100, redeemNow=True, transactionId="L1")

    assert held["state"] == "used" and held["redemption"]["redeemedPoints"] == 100
    redeemed = [p for _, kind, p in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == [100]


async def test_redeem_outcome_unknown_is_said_and_settled_for_the_resend(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_BUDGETS_HOLD="0.6"))
    request = {
        "customerId": "cust-1001",
        "checkoutId": "lost-2",
        "points": 100,
        "redeemNow": True,
        "transactionId": "L2",
    }
    simulator.sim.set_fault("blackhole", paths=["/transactions/redeem"])

    unknown = await sidecar.post("/v1/hold-and-redeem", json=request)
    unknown_body = await unknown.json()
    simulator.sim.clear_faults()
    await wait_until(lambda: bool(ledger(simulator, "cust-1001")), within=10)
    resent = await sidecar.post("/v1/hold-and-redeem", json=request)

    assert unknown.status == 503
    assert_error_shape(unknown_body, "REDEMPTION_OUTCOME_UNKNOWN")
    assert "resend" in unknown_body["error"]["message"]
    settled = await resent.json()
    assert resent.status == 200 and settled["redemption"]["redeemedPoints"] == 100
    redeemed = [p for _, kind, p in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == [100]

"""A queued sale whose hold is gone by the time it is sent: the same points held again for
the same customer, or the sale sent earn-only and flagged ``redemption_failed`` for finance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    Client,
    GameballClient,
    finalize,
    hold,
    ledger,
    outbox_items,
    payment,
    payments_in_ledger,
    status,
    with_hold,
)
from tests.support.fixtures import MakeSidecar
from tests.support.rows import new_item, store_rows
from tests.support.waits import wait_drained


async def queue_with_expired_hold(
    sidecar: Client, simulator: SimulatorServer, checkout: str, points: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A hold made online, its payment queued offline, and the hold expired before replay."""
    held = await hold(sidecar, checkout, points)
    await simulator.set_down(True)
    _, queued = await finalize(sidecar, with_hold(f"pay-{checkout}", 20, held))
    simulator.sim.advance_clock(700)
    return held, queued


async def test_queued_payment_with_expired_hold_is_reheld(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held, queued = await queue_with_expired_hold(sidecar, simulator, "exp-1", 100)

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "reheld"
    assert item["result"]["redeemedPoints"] == 100
    assert item["request"]["redemption"]["pointsHoldReference"] != held["holdReference"]


async def test_queued_payment_with_expired_hold_that_cannot_be_reheld_earns_only(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    _, queued = await queue_with_expired_hold(sidecar, simulator, "exp-2", 400)
    # The points came back at expiry and were spent elsewhere, so they cannot be held again.
    simulator.sim.seed_customer("cust-1001", points=50)

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed"
    assert item["result"]["rewardedPoints"] == 20 and item["result"]["redeemedPoints"] == 0
    st = await status(sidecar)
    assert st["outbox"]["redemptionFailed"] == 1
    assert payments_in_ledger(simulator, "cust-1001") == ["pay-exp-2"]


async def test_transient_error_while_reholding_is_retried_not_a_500(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "rh-1", 50)
    await simulator.set_down(True)
    _, queued = await finalize(
        sidecar,
        with_hold("rh-pay", 5, held),
    )
    simulator.sim.advance_clock(700)
    simulator.sim.set_fault("error5xx", paths=["/transactions/hold"], count=1)

    await simulator.set_down(False)
    await wait_drained(sidecar, within=20)
    code, later = await finalize(sidecar, payment("cust-1001", "rh-next", 5))

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "reheld"
    assert code == 200 and later["status"] == "delivered"  # the customer's lane is not stuck


async def test_replay_never_reholds_for_a_customer_the_hold_is_not_for(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path
) -> None:
    """A row stored before holds were checked at finalize: found only at replay."""
    first = await make_sidecar()
    held = await hold(first, "own-2", 100)
    await first.close()
    simulator.sim.advance_clock(700)  # the hold expires, so Gameball answers 9006
    await store_rows(
        data_dir,
        new_item(
            "B-2",
            "cust-2002",
            body={
                "customerId": "cust-2002",
                "paymentId": "B-2",
                "paymentDate": "2026-11-20T09:15:00.123Z",
                "totalPaid": 10,
                "redemption": {"pointsHoldReference": held["holdReference"]},
            },
            amount=10,
            hold_reference=held["holdReference"],
            hold_action="burn",
        ),
    )

    sidecar = await make_sidecar()
    await wait_drained(sidecar)

    (item,) = await outbox_items(sidecar)
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed"
    assert "another customer" in item["lastError"]
    assert [kind for _, kind, _ in ledger(simulator, "cust-2002")] == ["PaymentReward"]
    assert (await status(sidecar))["outbox"]["redemptionFailed"] == 1


async def test_hold_found_used_at_replay_is_redemption_failed(
    sidecar: Client, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    """A hold made on another till and burned there before this till's queued sale is sent."""
    _, made = await simulator_client.post(
        "/integrations/transactions/hold",
        {"customerId": "cust-1001", "transactionTime": "2026-11-20T09:00:00Z", "pointsToHold": 40},
    )
    await simulator.set_down(True)
    code, queued = await finalize(
        sidecar,
        payment("cust-1001", "T-6", 10, redemption={"pointsHoldReference": made["holdReference"]}),
    )
    await simulator.set_down(False)
    await simulator_client.post(
        "/integrations/transactions/redeem",
        {
            "customerId": "cust-1001",
            "transactionId": "elsewhere",
            "transactionTime": "2026-11-20T09:01:00Z",
            "holdReference": made["holdReference"],
        },
    )
    await wait_drained(sidecar)

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert code == 202
    assert item["outcome"] == "redemption_failed" and "already used" in item["lastError"]
    assert (await status(sidecar))["outbox"]["redemptionFailed"] == 1
    redeemed = [t for t, kind, _ in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == ["elsewhere"]

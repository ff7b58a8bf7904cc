"""Refunds: a refund goes to Gameball after the payment it reverses, never before, and a refund
waiting for its payment holds up nothing else of its customer."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    Client,
    assert_error_shape,
    finalize,
    ledger,
    outbox_items,
    payment,
    refund,
)
from tests.support.waits import wait_drained


async def test_refund_never_sent_before_its_payment(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await finalize(sidecar, payment("cust-1001", "pay-r", 100))
    response = await sidecar.post(
        "/v1/refund", json={"paymentId": "pay-r", "refundId": "ref-r", "amount": 40}
    )
    code, body = response.status, await response.json()

    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert code == 202 and body["status"] == "queued" and body["refundId"] == "ref-r"
    ledger = [(e["transactionId"], e["type"]) for e in simulator.sim.ledger("cust-1001")]
    assert ledger.index(("pay-r", "PaymentReward")) < [t for t, _ in ledger].index("ref-r")


async def test_refund_of_unknown_payment_needs_customer(sidecar: Client) -> None:
    response = await sidecar.post("/v1/refund", json={"paymentId": "elsewhere", "refundId": "r-1"})

    body = await response.json()
    assert response.status == 422
    assert body["error"]["details"][0]["field"] == "$.customerId"


async def test_refund_naming_another_customer_is_refused(sidecar: Client) -> None:
    await finalize(sidecar, payment("cust-1001", "own-pay", 20))

    response = await sidecar.post(
        "/v1/refund",
        json={"paymentId": "own-pay", "refundId": "wrong-ref", "customerId": "cust-2002"},
    )

    body = await response.json()
    assert response.status == 422 and body["error"]["details"][0]["field"] == "$.customerId"


# Regression: a refund stored before its payment wedged that customer's queue for good.


async def test_refund_stored_before_its_payment_goes_after_it_and_blocks_nothing(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await refund(sidecar, paymentId="P1", refundId="R1", customerId="cust-1001", amount=5)

    p1 = await finalize(sidecar, payment("cust-1001", "P1", 20))
    p2 = await finalize(sidecar, payment("cust-1001", "P2", 30))
    await wait_drained(sidecar)

    assert first[0] == 202, first
    assert p1[0] == 200, p1  # the refund is not in its way
    assert p2[0] in (200, 202), p2  # 202 if it arrived while the refund was on its way
    assert all(item["state"] == "delivered" for item in await outbox_items(sidecar))
    entries = [(t, kind) for t, kind, _ in ledger(simulator, "cust-1001")]
    assert entries.index(("P1", "PaymentReward")) < entries.index(("R1", "Cancel"))
    assert ("P2", "PaymentReward") in entries


async def test_refund_queued_offline_before_its_payment_is_sent_after_it(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await refund(sidecar, paymentId="P3", refundId="R3", customerId="cust-1001")
    await finalize(sidecar, payment("cust-1001", "P3", 20))
    await finalize(sidecar, payment("cust-1001", "P4", 30))

    await simulator.set_down(False)
    await wait_drained(sidecar)

    entries = [t for t, _, _ in ledger(simulator, "cust-1001")]
    assert entries.index("P3") < entries.index("R3")
    assert "P4" in entries
    assert all(item["state"] == "delivered" for item in await outbox_items(sidecar))


async def test_new_refund_id_on_a_fully_refunded_payment_is_409(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await finalize(sidecar, payment("cust-1001", "P-full", 20))
    first = await refund(sidecar, paymentId="P-full", refundId="R-full-1")

    code, body = await refund(sidecar, paymentId="P-full", refundId="R-full-2")

    assert first[0] == 200
    assert code == 409
    assert_error_shape(body, "ALREADY_REFUNDED")
    states = {i["refundId"]: i["state"] for i in await outbox_items(sidecar) if i["refundId"]}
    assert states == {"R-full-1": "delivered", "R-full-2": "dead"}

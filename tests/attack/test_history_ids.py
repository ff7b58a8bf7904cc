"""The history a cashier reads in a dispute: this till's queued calls must carry their own ids,
whatever characters the id rule allows (a colon is allowed)."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.retail import Client, call


async def test_queued_entries_in_history_keep_ids_with_colons(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("error5xx", paths=["/integrations/payments", "/transactions/manual"])
    paid = await call(
        sidecar,
        "POST",
        "/v1/finalize-payment",
        {"customerId": "cust-1001", "paymentId": "till:1:sale:10", "totalPaid": 12},
    )
    manual = await call(
        sidecar,
        "POST",
        "/v1/manual-points",
        {
            "customerId": "cust-1001",
            "transactionId": "m:2",
            "username": "mgr",
            "reason": "goodwill",
            "points": -50,
        },
    )

    code, history = await call(sidecar, "GET", "/v1/customers/cust-1001/transactions")

    assert paid[0] == 202 and manual[0] == 202, (paid, manual)
    assert code == 200, history
    ids = {entry["outboxId"]: entry["transactionId"] for entry in history["queued"]}
    assert ids == {
        paid[1]["outboxId"]: "till:1:sale:10",
        manual[1]["outboxId"]: "m:2",
    }, history["queued"]

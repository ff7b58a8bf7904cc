"""GET /v1/customers/{id}/transactions in a dispute: a sale this till delivered a moment ago
must appear, in Gameball's list or among this till's calls; the balance cache is dropped when a
sale lands, the history cache must not hide it either."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.retail import Client, call


async def test_a_sale_delivered_after_a_history_read_is_in_the_next_history(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await call(sidecar, "GET", "/v1/customers/cust-2002/transactions")
    paid = await call(
        sidecar,
        "POST",
        "/v1/finalize-payment",
        {"customerId": "cust-2002", "paymentId": "hist-cache-1", "totalPaid": 50},
    )

    code, history = await call(sidecar, "GET", "/v1/customers/cust-2002/transactions")

    assert first[0] == 200 and paid[0] == 200, (first, paid)
    assert code == 200, history
    listed = history.get("transactions", []) + history.get("queued", [])
    shown = [e.get("transactionId") for e in listed]
    assert "hist-cache-1" in shown, (history["source"], shown)

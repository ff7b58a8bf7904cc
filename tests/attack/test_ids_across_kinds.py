"""An id reused across kinds for one customer (an orderId or a cashback transactionId equal to
an earlier paymentId): after a send whose outcome is unknown, Gameball's "already" (9004) must
not be taken as this row's delivery just because the ledger holds another kind's row under the
same id."""

from __future__ import annotations

import pytest

from sidecar.simulator import SimulatorServer
from tests.support.retail import Client, call
from tests.support.waits import wait_drained


async def test_order_with_a_payments_id_is_refused_at_the_till_and_nothing_stored(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    paid = await call(
        sidecar,
        "POST",
        "/v1/finalize-payment",
        {"customerId": "cust-2002", "paymentId": "same-id-1", "totalPaid": 80},
    )
    simulator.sim.set_fault("reset", paths=["/integrations/orders"], count=1)

    code, body = await call(
        sidecar,
        "POST",
        "/v1/finalize-order",
        {"customerId": "cust-2002", "orderId": "same-id-1", "totalPaid": 40},
    )
    await wait_drained(sidecar)

    assert paid[0] == 200 and code == 409, body
    assert body["error"]["code"] == "TRANSACTION_ID_TAKEN" and "payment" in body["error"]["message"]
    _, listed = await call(sidecar, "GET", "/v1/outbox")
    assert [i["kind"] for i in listed["items"]] == ["payment"]
    assert not [r for r in simulator.sim.requests if r["path"].endswith("/integrations/orders")]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/finalize-cashback",
            {"customerId": "cust-1001", "transactionId": "same-id-2", "amount": 50},
        ),
        (
            "/v1/manual-points",
            {
                "customerId": "cust-1001",
                "transactionId": "same-id-2",
                "username": "mgr",
                "reason": "goodwill",
                "points": 5,
            },
        ),
    ],
)
async def test_cashback_or_manual_points_with_a_payments_id_are_refused_offline_too(
    sidecar: Client, simulator: SimulatorServer, path: str, body: dict[str, object]
) -> None:
    await call(
        sidecar,
        "POST",
        "/v1/finalize-payment",
        {"customerId": "cust-1001", "paymentId": "same-id-2", "totalPaid": 100},
    )
    await simulator.set_down(True)

    code, answer = await call(sidecar, "POST", path, body)

    assert code == 409 and answer["error"]["code"] == "TRANSACTION_ID_TAKEN", answer


async def test_a_refund_reusing_its_own_payments_id_is_not_blamed_on_another_till(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await call(
        sidecar,
        "POST",
        "/v1/finalize-payment",
        {"customerId": "cust-1001", "paymentId": "same-id-3", "totalPaid": 30},
    )

    code, body = await call(
        sidecar, "POST", "/v1/refund", {"paymentId": "same-id-3", "refundId": "same-id-3"}
    )

    assert code == 409 and body["error"]["code"] == "TRANSACTION_ID_TAKEN", body
    assert "did not send" not in body["error"]["message"], body
    _, listed = await call(sidecar, "GET", "/v1/outbox")
    assert [i["kind"] for i in listed["items"]] == ["payment"]

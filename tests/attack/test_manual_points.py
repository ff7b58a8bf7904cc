"""POST /v1/manual-points: what Gameball's contract forbids is refused at the till, naming the
field, not acknowledged and dead-lettered later."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import go_offline
from tests.support.retail import Client, call

DEDUCTION = {
    "customerId": "cust-2002",
    "transactionId": "mp-off-1",
    "username": "mgr",
    "reason": "goodwill",
    "points": -10,
    "expiryAfter": 30,
}


async def test_a_deduction_with_an_expiry_is_refused_naming_the_field(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await go_offline(sidecar)

    code, body = await call(sidecar, "POST", "/v1/manual-points", DEDUCTION)

    assert code == 422, body
    assert body["error"]["details"][0]["field"] == "$.expiryAfter", body

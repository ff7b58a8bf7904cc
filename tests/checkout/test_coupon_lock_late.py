"""A coupon lock Gameball makes after the cashier was told coupons cannot be checked (its answer
came after the budget): given back, so the customer's retry is not refused as "locked by
another session" until the lock lapses. Found by the model (tests/model)."""

from __future__ import annotations

from typing import Any

from sidecar.simulator import SimulatorServer
from tests.support.clients import assert_error_shape
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_until

VALIDATE = {
    "customerId": "cust-1001",
    "coupons": ["PCT15"],
    "totalPurchaseAmount": 100,
    "lock": True,
}


def lock_states(simulator: SimulatorServer) -> list[Any]:
    return [lock["state"] for lock in simulator.sim.state.coupons.snapshot()["locks"]]


async def test_coupon_lock_answered_after_the_budget_is_released_and_the_retry_locks(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_BUDGETS_HOLD="0.3"))
    simulator.sim.set_fault(
        "slow", paths=["/integrations/coupons/validate"], delay_seconds=0.8, count=1
    )

    late = await sidecar.post("/v1/coupons/validate", json=VALIDATE)
    await wait_until(
        lambda: lock_states(simulator) == ["released"],
        describe=lambda: lock_states(simulator),
    )
    retry = await sidecar.post("/v1/coupons/validate", json=VALIDATE)

    assert late.status == 503
    assert_error_shape(await late.json(), "OFFLINE_COUPONS_UNAVAILABLE")
    body = await retry.json()
    assert retry.status == 200 and body["valid"] is True and body["lockReference"], body

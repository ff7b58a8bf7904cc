"""GET /v1/holds/{ref}: a hold a stored sale already burns is not free any more; the till must
not be told it is "active" (a sale naming it again is refused 409 HOLD_ALREADY_USED)."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import finalize, hold, offline_after_balance, with_hold
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.retail import call


async def test_a_provisional_hold_burned_by_a_queued_sale_is_not_reported_active(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_OFFLINE_REDEMPTION_ENABLED="true"))
    await offline_after_balance(sidecar, simulator)  # cust-1001: 500 points
    held = await hold(sidecar, "st-1", 100)
    code, _ = await finalize(sidecar, with_hold("st-pay-1", 20, held))
    again, _ = await finalize(sidecar, with_hold("st-pay-2", 20, held))

    _, shown = await call(sidecar, "GET", f"/v1/holds/{held['holdReference']}")

    assert code == 202 and again == 409
    assert shown["state"] != "active", shown

"""A provisional hold exists only in the book of the terminal that made it: a sale naming a
``provisional-`` reference this terminal never made (forged, mistyped, another till's) cannot
redeem anything, so the till must hear that before it gives the discount."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import go_offline
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.retail import call

SALE = {
    "customerId": "cust-2002",
    "paymentId": "forge-2",
    "totalPaid": 10,
    "redemption": {"pointsHoldReference": "provisional-1111"},
}


async def test_a_sale_naming_an_unknown_provisional_hold_is_refused_at_the_till(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_OFFLINE_REDEMPTION_ENABLED="true"))
    await simulator.set_down(True)
    await go_offline(sidecar)

    code, body = await call(sidecar, "POST", "/v1/finalize-payment", SALE)

    assert 400 <= code < 500, body

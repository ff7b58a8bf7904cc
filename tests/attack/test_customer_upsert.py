"""PUT /v1/customers/{id}: the newest update the till sent is what Gameball ends up with."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.retail import Client, call

FIRST = {"mobile": "+201000000001", "customerAttributes": {"displayName": "First"}}
SECOND = {"mobile": "+201000000002", "customerAttributes": {"displayName": "Second"}}


async def test_changing_a_customer_back_to_an_earlier_body_is_sent_again(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await call(sidecar, "PUT", "/v1/customers/cust-777", FIRST)
    await call(sidecar, "PUT", "/v1/customers/cust-777", SECOND)

    code, body = await call(sidecar, "PUT", "/v1/customers/cust-777", FIRST)

    assert code in (200, 202), body
    customer = simulator.sim.customer("cust-777")
    assert customer["mobile"] == FIRST["mobile"], customer

"""Which sale may burn which hold: only its own customer's, only once, never a released one;
refused before anything is stored or sent."""

from __future__ import annotations

from typing import Any

from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    Client,
    assert_error_shape,
    finalize,
    hold,
    ledger,
    outbox_items,
    payment,
    with_hold,
)


def gameball_hold(simulator: SimulatorServer, reference: str) -> dict[str, Any]:
    return simulator.sim.state.get_hold(reference)


# Regression: a customer's payment could burn another customer's hold.


async def test_finalize_naming_another_customers_hold_is_refused_and_stores_nothing(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "own-1", 100)  # cust-1001's hold

    code, body = await finalize(
        sidecar,
        payment("cust-2002", "B-1", 10, redemption={"pointsHoldReference": held["holdReference"]}),
    )

    assert code == 422
    assert_error_shape(body, "HOLD_BELONGS_TO_ANOTHER_CUSTOMER")
    assert await outbox_items(sidecar) == []
    assert ledger(simulator, "cust-2002") == []
    assert gameball_hold(simulator, held["holdReference"])["state"] == "active"


# Regression: a hold already burned was accepted again, silently.


async def test_second_sale_naming_a_used_hold_is_refused(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "twice-a", 100)
    burn = {"pointsHoldReference": held["holdReference"]}
    first = await finalize(sidecar, payment("cust-1001", "T-1", 10, redemption=burn))

    code, body = await finalize(sidecar, payment("cust-1001", "T-2", 10, redemption=burn))

    assert first[0] == 200 and first[1]["redeemedPoints"] == 100
    assert code == 409
    assert_error_shape(body, "HOLD_ALREADY_USED")
    assert [i["paymentId"] for i in await outbox_items(sidecar)] == ["T-1"]


async def test_two_offline_sales_cannot_both_name_one_hold(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "twice-b", 100)
    burn = {"pointsHoldReference": held["holdReference"]}
    await simulator.set_down(True)

    first = await finalize(sidecar, payment("cust-1001", "T-3", 10, redemption=burn))
    second = await finalize(sidecar, payment("cust-1001", "T-4", 10, redemption=burn))
    again = await finalize(sidecar, payment("cust-1001", "T-3", 10, redemption=burn))

    assert first[0] == 202 and again == first  # the same sale resent: its stored outcome
    assert second[0] == 409
    assert_error_shape(second[1], "HOLD_ALREADY_USED")


async def test_sale_naming_a_released_hold_is_refused(sidecar: Client) -> None:
    held = await hold(sidecar, "gone-1", 50)
    await sidecar.delete(f"/v1/holds/{held['holdReference']}")

    code, body = await finalize(
        sidecar,
        payment("cust-1001", "T-5", 10, redemption={"pointsHoldReference": held["holdReference"]}),
    )

    assert code == 409
    assert_error_shape(body, "HOLD_RELEASED")


async def test_hold_already_redeemed_is_not_burned_twice(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "twice-1", 100, redeemNow=True, transactionId="twice-sale")
    before = simulator.sim.balance("cust-1001")["availablePointsBalance"]

    code, body = await finalize(
        sidecar,
        with_hold("twice-pay", 10, held),
    )

    assert held["state"] == "used"
    assert code == 409
    assert_error_shape(body, "HOLD_ALREADY_USED")  # refused: the till must not discount twice
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == before


async def test_released_hold_is_not_reheld(sidecar: Client, simulator: SimulatorServer) -> None:
    held = await hold(sidecar, "rel-then-pay", 100)
    await sidecar.delete(f"/v1/holds/{held['holdReference']}")
    before = simulator.sim.balance("cust-1001")["availablePointsBalance"]

    code, body = await finalize(
        sidecar,
        with_hold("rel-pay", 10, held),
    )

    assert code == 409
    assert_error_shape(body, "HOLD_RELEASED")
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == before

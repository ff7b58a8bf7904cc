"""A sale rewritten at replay (its hold gone: earn-only, redemption_failed) whose answer is then
lost: the resend's "already" (9004) is the rewritten sale landing, so it stays
redemption_failed with what the till discounted, for finance; unless what landed was an
earlier send that did redeem. Found by the offline-redemption chaos suite (a SIGKILL between
the sale reaching Gameball and its answer being written)."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    finalize,
    hold,
    offline_after_balance,
    outbox_item,
    status,
    with_hold,
)
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_drained

ENABLED = {"SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true"}
PAYMENTS = "/integrations/payments"


async def test_written_off_sale_whose_answer_was_lost_stays_redemption_failed(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(**ENABLED))
    await offline_after_balance(sidecar, simulator)  # cust-1001: 500 points
    held = await hold(sidecar, "k-lost", 100)
    code, paid = await finalize(sidecar, with_hold("p-lost", 20, held))
    simulator.sim.spend_elsewhere("cust-1001", 450)  # the re-hold at replay is refused (9008)
    simulator.sim.set_fault("drop_response", paths=[PAYMENTS], count=1)

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = await outbox_item(sidecar, paid["outboxId"])
    exposure = (await status(sidecar))["offlineRedemption"]
    assert code == 202 and held["provisional"] is True
    assert item["state"] == "delivered"
    assert item["outcome"] == "redemption_failed", item
    assert (item["absorbedPoints"], item["absorbedValue"]) == (100, held["holdAmount"])
    assert exposure["absorbedPoints"] == 100


async def test_sale_that_redeemed_before_its_hold_was_found_gone_is_not_written_off(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config())
    held = await hold(sidecar, "k-landed", 100)
    # The sale lands with its hold and the answer is lost; the resend finds the hold used.
    simulator.sim.set_fault("drop_response", paths=[PAYMENTS], count=1)

    code, paid = await finalize(sidecar, with_hold("p-landed", 20, held))
    await wait_drained(sidecar)

    item = await outbox_item(sidecar, paid["outboxId"])
    redeemed = [
        e["points"]
        for e in simulator.sim.ledger("cust-1001")
        if e["type"] == "Redemption" and e["transactionId"] == "p-landed"
    ]
    assert code == 202 and redeemed == [100]
    assert item["state"] == "delivered" and item["outcome"] != "redemption_failed", item
    assert (await status(sidecar))["offlineRedemption"]["absorbedPoints"] == 0

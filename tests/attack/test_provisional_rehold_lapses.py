"""A sale that burned a provisional (offline) hold is re-held at Gameball at replay; if the send
after the re-hold fails and the fresh hold lapses before the retry, the sale goes earn-only:
finance must still see the value the till discounted offline, not 0."""

from __future__ import annotations

from typing import Any

from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    finalize,
    hold,
    offline_after_balance,
    outbox_item,
    with_hold,
)
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_drained, wait_until

ENABLED = {"SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true"}
HOLD = "/integrations/transactions/hold"


def holds_made(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return [r for r in simulator.sim.requests if r["path"].endswith(HOLD) and r["method"] == "POST"]


async def test_a_lapsed_rehold_keeps_the_value_the_till_discounted(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(**ENABLED))
    await offline_after_balance(sidecar, simulator)  # cust-1001: 500 points
    held = await hold(sidecar, "lapse-1", 100)
    code, paid = await finalize(sidecar, with_hold("lapse-pay-1", 20, held))
    simulator.sim.set_fault("error5xx", paths=["/integrations/payments"])
    await simulator.set_down(False)
    await wait_until(lambda: len(holds_made(simulator)) == 1, within=10)
    simulator.sim.advance_clock(3600)  # the fresh hold lapses at Gameball meanwhile
    simulator.sim.clear_faults()
    await wait_drained(sidecar, within=20)

    item = await outbox_item(sidecar, paid["outboxId"])
    assert code == 202 and held["provisional"] is True
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed", item
    assert item["absorbedPoints"] == 100, (item["note"], item["absorbedValue"])

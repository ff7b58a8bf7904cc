"""Provisional (offline) holds and the merchant's caps: a provisional hold that a sale may still
burn after its expiry must still count against the caps, or two checkouts spend past them."""

from __future__ import annotations

import asyncio
import time

from sidecar.clocks import Clocks
from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    finalize,
    hold,
    offline_after_balance,
    status,
    with_hold,
)
from tests.support.fixtures import MakeConfig, MakeSidecar

ENABLED = {"SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true", "SIDECAR_HOLDS_DEFAULT_TTL": "1"}


async def test_expired_provisional_holds_still_burned_stay_within_the_share_cap(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    ahead = [0.0]  # the till's wall clock moves on when the test says; timers stay real
    clocks = Clocks(clock=lambda: time.time() + ahead[0], timer=time.monotonic, sleep=asyncio.sleep)
    sidecar = await make_sidecar(make_config(**ENABLED), clocks=clocks)
    await offline_after_balance(sidecar, simulator)  # cust-1001: 500 points
    first = await hold(sidecar, "exp-1", 250)  # the whole 0.5 share of 500
    ahead[0] = 2.0  # its expiresAt (one second) passes
    second = await hold(sidecar, "exp-2", 250)

    burned_first = await finalize(sidecar, with_hold("exp-pay-1", 30, first))
    burned_second = await finalize(sidecar, with_hold("exp-pay-2", 30, second))

    report = await status(sidecar)
    spent = report["offlineRedemption"]["outstandingPoints"]
    assert first.get("provisional") is True, first
    # Either the second hold or the sale burning the expired first is refused; not both taken.
    assert spent <= 250, (second, burned_first, burned_second, report["offlineRedemption"])

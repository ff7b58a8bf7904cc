"""Whether Gameball is reachable: the circuit breaker, and how long the terminal has been
offline, which a restart does not reset."""

from __future__ import annotations

import time

from sidecar.clocks import Clocks
from sidecar.simulator import SimulatorServer
from tests.support.clients import finalize, payment, status
from tests.support.fixtures import MakeConfig, MakeSidecar

# Regression: the offline clock restarted with the process.


async def test_offline_age_counts_from_the_last_success_across_restarts(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    now = [time.time()]
    clocks = Clocks(clock=lambda: now[0])
    config = make_config(SIDECAR_LIMITS_MAX_OFFLINE_AGE="600")
    first = await make_sidecar(config, clocks=clocks)
    assert (await finalize(first, payment("cust-1001", "age-1")))[0] == 200
    await first.close()
    await simulator.set_down(True)
    now[0] += 3600

    second = await make_sidecar(config, clocks=clocks)
    right_after_start = (await status(second))["connectivity"]
    code, body = await finalize(second, payment("cust-1001", "age-2"))

    assert right_after_start["state"] in ("unknown", "offline")
    assert right_after_start["lastSuccessAt"] is not None
    assert code == 503 and body["error"]["code"] == "OFFLINE_TOO_LONG"


async def test_state_is_unknown_until_gameball_first_answers(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("blackhole")
    sidecar = await make_sidecar()

    connectivity = (await status(sidecar))["connectivity"]
    simulator.sim.clear_faults()

    assert connectivity["state"] == "unknown" and connectivity["lastSuccessAt"] is None

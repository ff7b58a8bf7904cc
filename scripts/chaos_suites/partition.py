"""Suite 2, partition: Gameball's connectivity flaps (down, black hole, slow, reset, HTML 503)
while tills send every kind of call the crash suite's do; the same invariants, plus how long
the queue takes to empty after the last recovery and the longest any POS call waited."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time

import aiohttp

from scripts.chaos_suites.common import figures, spec_violations
from scripts.chaos_suites.tills import seeded_simulator, sidecar_in, start_tills
from scripts.chaos_suites.traffic import Record, check_ledger, kinds_line
from sidecar.config import BudgetsSection
from sidecar.simulator import SimulatorServer

# "ratelimit": a 429 storm, every call refused as over the account's budget.
MODES = ("down", "ratelimit", "blackhole", "slow", "reset", "html503")
# The longest budget of a call the tills make (a hold's, 3 s) and what a loaded 2-core machine
# adds to an HTTP answer: no POS call waits longer, through every fault, the 429 storm too.
LONGEST_POS_WAIT_S = max(BudgetsSection().hold, BudgetsSection().finalize) + 1.0


async def flap(
    simulator: SimulatorServer,
    rng: random.Random,
    flaps: int,
    out: list[str],
    tills: list[asyncio.Task[None]],
) -> float:
    """Flap at least ``flaps`` times and until the tills are done; return when Gameball came
    back for the last time."""
    n = 0
    while n < flaps or not all(t.done() for t in tills):
        mode = MODES[n % len(MODES)]
        n += 1
        if mode == "down":
            await simulator.set_down(True)
        elif mode == "slow":
            simulator.sim.set_fault("slow", delay_seconds=3.0)
        else:
            simulator.sim.set_fault(mode)
        out.append(mode)
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        await simulator.set_down(False)
        simulator.sim.clear_faults()
        recovered = time.monotonic()
        await asyncio.sleep(rng.uniform(0.5, 2.0))
    return recovered


async def run(flaps: int, customers: int, sales: int, seed: int = 7) -> bool:
    rng = random.Random(seed)
    simulator = await seeded_simulator("part", customers)
    record = Record()
    modes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = sidecar_in(
            tmp,
            simulator,
            SIDECAR_PACING_ENABLED="false",
            SIDECAR_UPSTREAM_TIMEOUT="2",
            SIDECAR_OUTBOX_CONCURRENCY="8",
        )
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            tills = start_tills(
                session,
                sidecar.url,
                "part",
                customers,
                record,
                sales=sales,
                think=(0.1, 0.6),
                rng=rng,
            )
            recovered = await asyncio.wait_for(flap(simulator, rng, flaps, modes, tills), 1800)
            await asyncio.gather(*tills)
            await sidecar.wait_drained(session, within=600)
            drain = time.monotonic() - recovered
            clean_stop = sidecar.stop() == 0
    await simulator.stop()
    result = check_ledger(simulator, record)
    outside_spec = spec_violations("partition", simulator)
    print(
        figures(
            "partition",
            {
                "flaps": len(modes),
                "modes": ",".join(sorted(set(modes))),
                **result,
                "last_recovery_to_empty_s": round(drain, 1),
                "longest_pos_wait_s": round(record.longest_wait, 2),
                "calls": record.calls_made,
                "kinds": kinds_line(record),
                "spec_violations": outside_spec,
            },
        ),
        flush=True,
    )
    for problem in record.unexpected[:5]:
        print(f"  unexpected answer: {problem}")
    return (
        len(modes) >= flaps
        and clean_stop
        and not record.unexpected
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["order_violations"] == 0
        and result["welcomed_twice"] == 0
        and record.longest_wait <= LONGEST_POS_WAIT_S
        and outside_spec == 0
    )


def main(quick: bool) -> bool:
    if quick:
        return asyncio.run(run(flaps=5, customers=10, sales=15))
    return asyncio.run(run(flaps=12, customers=25, sales=40))

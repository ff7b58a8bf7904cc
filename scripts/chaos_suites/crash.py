"""Suite 1, crash: SIGKILL the sidecar at random moments while tills sell (payments and orders,
some burning holds and coupon locks, their refunds, cashback, manual points, customer upserts,
coupon locks given back); after the last restart and drain, every acknowledged call is at
Gameball exactly once and each customer's order is kept; prints the count of each kind."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time

import aiohttp

from scripts.chaos_suites.common import figures, spec_violations
from scripts.chaos_suites.tills import seeded_simulator, sidecar_in, start_tills
from scripts.chaos_suites.traffic import Record, check_ledger, kinds_line


async def run(kills: int, customers: int, sales: int, seed: int = 20261122) -> bool:
    rng = random.Random(seed)
    simulator = await seeded_simulator("crash", customers)
    record = Record()
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = sidecar_in(
            tmp,
            simulator,
            SIDECAR_PACING_ENABLED="false",
            SIDECAR_OUTBOX_CONCURRENCY="8",
        )
        sidecar.start()
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            tills = start_tills(
                session,
                sidecar.url,
                "crash",
                customers,
                record,
                sales=sales,
                think=(0.2, 0.9),
                rng=rng,
            )
            done = 0
            while done < kills and not all(t.done() for t in tills):
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                if rng.random() < 0.3:
                    await simulator.set_down(True)  # some sales queue offline too
                sidecar.kill()
                done += 1
                sidecar.start()
                await sidecar.wait_ready(session)
                if rng.random() < 0.7:
                    await simulator.set_down(False)
            await simulator.set_down(False)
            await asyncio.wait_for(asyncio.gather(*tills), timeout=600)
            await sidecar.wait_drained(session, within=300)
            clean_stop = sidecar.stop() == 0
        elapsed = time.monotonic() - started
    await simulator.stop()
    result = check_ledger(simulator, record)
    outside_spec = spec_violations("crash", simulator)
    print(
        figures(
            "crash",
            {
                "kills": done,
                "customers": customers,
                **result,
                "with_hold": record.holds_used,
                "with_coupon": record.locks_used,
                "refunds": len(record.refunds),
                "kinds": kinds_line(record),
                "interrupted_calls": record.interrupted,
                "spec_violations": outside_spec,
                "seconds": round(elapsed),
            },
        ),
        flush=True,
    )
    for problem in record.unexpected[:5]:
        print(f"  unexpected answer: {problem}")
    return (
        done >= kills
        and clean_stop
        and not record.unexpected
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["order_violations"] == 0
        and result["welcomed_twice"] == 0
        and outside_spec == 0
        # Every step of a till stores a call but an abandoned coupon lock's release, which
        # needs Gameball to have made the lock (1 step in 8).
        and result["acknowledged"] >= customers * sales * 3 // 4
    )


def main(quick: bool) -> bool:
    if quick:
        return asyncio.run(run(kills=5, customers=10, sales=12))
    return asyncio.run(run(kills=20, customers=50, sales=40))

"""Suite 7, soak: three tills sell at a store's pace for ten minutes (SOAK_SECONDS) while
Gameball flaps between up, down, a short black hole, slow, connection resets and an HTML 503
page. Valid requests get only the documented answers, the sidecar's memory and open files stay
flat after a warm-up, and after the end and a drain every acknowledged payment and refund has
reached Gameball exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psutil

from scripts.chaos_suites.common import (
    call,
    exactly_once,
    figures,
    ledger_counts,
    log_problems,
    spec_violations,
)
from scripts.chaos_suites.soak.flapper import flapper
from scripts.chaos_suites.soak.resources import SAMPLE_EVERY, Sample, monitor, sample
from scripts.chaos_suites.soak.traffic import Tally, balance_url, till
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

TILLS = 3
CUSTOMERS_PER_TILL = 8
RSS_BOUND_MB = 25.0
FDS_BOUND = 20


async def run(seconds: float) -> bool:
    rng = random.Random(20261122)
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await simulator.start()
    pools = [[f"soak-{t}-{c:02d}" for c in range(CUSTOMERS_PER_TILL)] for t in range(TILLS)]
    for customer in (c for pool in pools for c in pool):
        simulator.sim.seed_customer(customer, points=100_000)
    work = Path(tempfile.mkdtemp(prefix="chaos-soak-"))
    log = work / "sidecar.log"
    sidecar = SidecarProcess(base_url=simulator.base_url, data_dir=work / "data", log_path=log)
    tally = Tally()
    modes: Counter[str] = Counter()
    samples: list[Sample] = []
    warmup = 60.0 if seconds >= 180 else seconds / 3
    spacing = (20.0, 40.0) if seconds >= 300 else (6.0, 12.0)
    ok = False
    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            assert sidecar.process is not None
            process = psutil.Process(sidecar.process.pid)
            # Seen once while online, so a stale balance can be answered later.
            for customer in (c for pool in pools for c in pool):
                tally.record(
                    "balance", await call(session, "GET", balance_url(sidecar.url, customer))
                )
            started = time.monotonic()
            deadline = started + seconds
            watcher = asyncio.create_task(monitor(process, started, samples))
            flaps = asyncio.create_task(
                flapper(simulator, random.Random(rng.random()), deadline - 10, spacing, modes)
            )
            tills = [
                till(
                    n, session, sidecar.url, pools[n], tally, random.Random(rng.random()), deadline
                )
                for n in range(TILLS)
            ]
            await asyncio.gather(*tills)
            await flaps
            elapsed = time.monotonic() - started
            await sidecar.wait_drained(session, within=300)
            await asyncio.sleep(SAMPLE_EVERY)  # let connections from the drain settle
            watcher.cancel()
            end = sample(process, started)
            status = await sidecar.status(session)
        payments = exactly_once(sorted(tally.payments), ledger_counts(simulator, "PaymentReward"))
        # A refund of a payment leaves one "Cancel" row (plus "Refund" when points come back).
        refunds = exactly_once(sorted(tally.refunds), ledger_counts(simulator, "Cancel"))
        unasked = set(ledger_counts(simulator, "PaymentReward")) - tally.payments
        baseline = next((s for s in samples if s.at >= warmup), samples[-1])
        rss_growth = end.rss_mb - baseline.rss_mb
        fds_growth = end.fds - baseline.fds
        after_warmup = [s for s in samples if s.at >= warmup] + [end]
        lost = len(payments.lost) + len(refunds.lost)
        duplicated = len(payments.duplicated) + len(refunds.duplicated)
        outside_spec = spec_violations("soak", simulator)
        ok = (
            tally.error_count == 0
            and lost == 0
            and duplicated == 0
            and not unasked
            and rss_growth < RSS_BOUND_MB
            and fds_growth < FDS_BOUND
            and outside_spec == 0
        )
        print(
            figures(
                "soak",
                {
                    "seconds": round(elapsed),
                    "sales": tally.sales,
                    "acknowledged": payments.acknowledged + refunds.acknowledged,
                    "delivered": payments.delivered + refunds.delivered,
                    "lost": lost,
                    "duplicated": duplicated,
                    "rss_start_mb": round(baseline.rss_mb, 1),
                    "rss_end_mb": round(end.rss_mb, 1),
                    "rss_peak_mb": round(max(s.rss_mb for s in [*samples, end]), 1),
                    "fds_start": baseline.fds,
                    "fds_end": end.fds,
                    "error_answers": tally.error_count,
                    "flaps": sum(modes.values()),
                    "spec_violations": outside_spec,
                },
            ),
            flush=True,
        )
        print(
            figures(
                "soak detail",
                {
                    "payments": f"{payments.delivered}/{payments.acknowledged}",
                    "refunds": f"{refunds.delivered}/{refunds.acknowledged}",
                    "delivered_unacknowledged": len(unasked),
                    "warmup_s": round(warmup),
                    "rss_first_mb": round(samples[0].rss_mb, 1),
                    "rss_growth_mb": f"{rss_growth:.1f}(bound<{RSS_BOUND_MB:g})",
                    "rss_peak_growth_mb": round(
                        max(s.rss_mb for s in after_warmup) - baseline.rss_mb, 1
                    ),
                    "fds_growth": f"{fds_growth}(bound<{FDS_BOUND})",
                    "fds_peak": max(s.fds for s in [*samples, end]),
                    "samples": len(samples) + 1,
                    "dead_letters": status["outbox"]["deadLetters"],
                    "redemption_failed": status["outbox"]["redemptionFailed"],
                    "log_errors": log_problems(log)[0],
                    "p99/max_s": ",".join(
                        f"{k}={tally.slowest(k)}" for k in ("estimate", "hold", "finalize")
                    ),
                    "modes": ",".join(f"{k}:{v}" for k, v in sorted(modes.items())),
                },
            ),
            flush=True,
        )
        print("soak answers: " + ", ".join(f"{k}={v}" for k, v in sorted(tally.answers.items())))
        for line in tally.errors:
            print(f"soak unexpected answer: {line}", flush=True)
        for label, missing in (("payment", payments.lost), ("refund", refunds.lost)):
            if missing:
                print(f"soak lost {label}s (first 5): {missing[:5]}", flush=True)
        return ok
    finally:
        sidecar.kill()
        await simulator.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"soak: sidecar log kept in {log}", flush=True)


def main(quick: bool) -> bool:
    seconds = float(os.environ.get("SOAK_SECONDS") or (60 if quick else 600))
    return asyncio.run(run(seconds))

"""Phase 6 of the benchmark, live first: the p95 of an online finalize (a new customer each,
four a second, open loop) with the sidecar idle, then while a backlog of payments queued
offline drains against the simulator enforcing Gameball's rate limits, and their ratio: a
cashier's sale must not wait behind the replay backlog for the account's rate budget."""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp

from scripts.benchmarks.backlog import accepted, fill
from scripts.benchmarks.measure import Bench, log
from scripts.benchmarks.plan import JSON, NO_LIMITS, PER_30S, PER_SECOND, TARGET_LIVE_RATIO
from scripts.benchmarks.procs import Sidecar
from scripts.benchmarks.report import Row
from sidecar.config import PacingSection
from sidecar.simulator import Simulator, SimulatorServer

EVERY = 0.25  # seconds between live sales: a busy store, well inside the live reserve
DEFAULT = str(PacingSection().live_reserve)


async def run(bench: Bench) -> None:
    reserves = (DEFAULT, "0") if bench.plan.name == "full" else (DEFAULT,)
    for reserve in reserves:
        await measure(bench, reserve)


async def measure(bench: Bench, reserve: str) -> None:
    n, seconds = bench.plan.live_backlog, bench.plan.live_seconds
    log(f"live first (live_reserve {reserve}): online finalize idle, then while {n:,} drain")
    bench.unpin()
    server = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=True))
    await server.start()
    sidecar = Sidecar(
        base_url=server.base_url,
        workdir=bench.work / f"livefirst-{reserve}",
        SIDECAR_PACING_ENABLED="true",
        SIDECAR_PACING_PER_SECOND=str(PER_SECOND),
        SIDECAR_PACING_PER_30_SECONDS=str(PER_30S),
        SIDECAR_PACING_LIVE_RESERVE=reserve,
        SIDECAR_PACING_RECONNECT_JITTER_SECONDS="0",
        **NO_LIMITS,
    )
    try:
        await sidecar.start()
        async with aiohttp.ClientSession(headers=JSON) as session:
            idle = await live_sales(session, sidecar, f"idle{reserve}", seconds)
            await fill(session, server, sidecar, n, f"lf{reserve}")
            await server.set_down(False)
            while len(accepted(server)) < 10:  # noqa: ASYNC110 (the journal has no event)
                await asyncio.sleep(0.05)  # replay is under way
            busy = await live_sales(session, sidecar, f"busy{reserve}", seconds)
            left = (await sidecar.status(session))["outbox"]["queued"]
            refused = sum(1 for r in server.sim.requests if r["status"] == 429)
    finally:
        sidecar.stop()
        await server.stop()
    ratio = busy.p95 / idle.p95
    log(f"  p95 idle {idle.p95:.1f} ms, draining {busy.p95:.1f} ms: {ratio:.2f}x")
    default = reserve == DEFAULT  # the only one held to the target
    label = "the default" if default else "for comparison: no live slice"
    bench.rows.append(
        Row(
            f"6. Online finalize while {n:,} queued payments drain (paced {PER_SECOND}/s, "
            f"{PER_30S}/30 s; live_reserve {reserve}, {label}): p95 draining / idle",
            f"**{ratio:.2f}x** (p95 {busy.p95:.1f} ms draining, {idle.p95:.1f} ms idle; p50 "
            f"{busy.p50:.1f} / {idle.p50:.1f} ms; answered 202 queued instead of delivered: "
            f"{busy.queued} draining, {idle.queued} idle; {left:,} still queued after; "
            f"{refused} answered 429)",
            f"{busy.count} and {idle.count} sales, one every {EVERY} s, each a new customer",
            f"≤ {TARGET_LIVE_RATIO:g}x" if default else "",
            ratio <= TARGET_LIVE_RATIO if default else None,
        )
    )


class Sales:
    def __init__(self, latencies: list[float], queued: int) -> None:
        self.count = len(latencies)
        self.queued = queued
        ordered = sorted(latencies)
        self.p50 = statistics.median(ordered)
        self.p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def live_sales(
    session: aiohttp.ClientSession, sidecar: Sidecar, tag: str, seconds: float
) -> Sales:
    """One online finalize every EVERY seconds (open loop), each timed to its answer."""
    latencies: list[float] = []
    queued = 0

    async def one(i: int) -> None:
        nonlocal queued
        body = (
            f'{{"customerId":"live-{tag}-{i}","paymentId":"live-{tag}-{i}","totalPaid":42.5,'
            '"paymentDetails":[{"serviceId":"latte","amount":42.5}]}'
        )
        started = time.perf_counter()
        async with session.post(f"{sidecar.url}/v1/finalize-payment", data=body) as answer:
            await answer.read()
            latencies.append(1000 * (time.perf_counter() - started))
            queued += answer.status == 202

    tasks = []
    start = time.perf_counter()
    for i in range(int(seconds / EVERY)):
        await asyncio.sleep(max(0.0, start + i * EVERY - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one(i)))
    await asyncio.gather(*tasks)
    return Sales(latencies, queued)

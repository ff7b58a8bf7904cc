"""Phase 4 of the benchmark, the replay drain with pacing off: n payments queued offline, then
the time from Gameball's return to the n-th delivery, and the sidecar's RSS after it; profiled,
with its statements timed, where it misses its target."""

from __future__ import annotations

import asyncio

import aiohttp

from scripts.benchmarks import cpu, loadgen, sqlite
from scripts.benchmarks.backlog import drain, fill
from scripts.benchmarks.measure import Bench, log, simulator_gc_off
from scripts.benchmarks.plan import JSON, NO_LIMITS, TARGET_DRAIN
from scripts.benchmarks.procs import Sidecar
from scripts.benchmarks.report import Finding, Row, Usage
from sidecar.simulator import Simulator, SimulatorServer


async def run(bench: Bench) -> None:
    n = bench.plan.drain
    log(f"drain of {n:,}, pacing off")
    bench.unpin()
    server = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await server.start()
    sidecar = Sidecar(
        base_url=server.base_url,
        workdir=bench.work / "drain",
        SIDECAR_PACING_ENABLED="false",
        **NO_LIMITS,
    )
    try:
        await sidecar.start()
        async with aiohttp.ClientSession(headers=JSON) as session:
            filled = await fill(session, server, sidecar, n, "u")
            log(f"  {n:,} queued at {filled:,.0f}/s")
            copy_rows = sqlite.snapshot(sidecar.db_path, bench.work / "drain-copy.db")
            server.sim.journal.clear()
            cpu_before, main_before = sidecar.cpu_seconds(), cpu.self_cpu()
            machine_before = cpu.machine_busy()
            with simulator_gc_off():
                elapsed, spread = await drain(session, server, sidecar, n)
            machine = cpu.machine_busy() - machine_before
            rss_after = sidecar.rss_mb()
            bench.record(
                Usage(
                    label=f"drain of {n:,}, pacing off",
                    seconds=elapsed,
                    sidecar=sidecar.cpu_seconds() - cpu_before,
                    main=cpu.self_cpu() - main_before,
                    proxy=None,
                    loadgen=None,
                    machine=machine,
                )
            )
            delivered = sum(1 for e in server.sim.ledger() if e["type"] == "PaymentReward")
            rate = n / elapsed
            log(f"  drained at {rate:,.0f}/s")
            bench.rows.append(
                Row(
                    f"4. Replay drain of {n:,} queued payments ({loadgen.CUSTOMERS} "
                    "customers, outbox.concurrency 8), pacing off",
                    f"**{rate:,.0f} items/s** (reconnect → last delivery {elapsed:.1f} s; "
                    f"first → last delivery {n / spread:,.0f}/s; {delivered:,} in the "
                    "simulator's ledger)",
                    f"queued offline beforehand at {filled:,.0f}/s (16 at a time)",
                    f"≥ {TARGET_DRAIN} items/s",
                    rate >= TARGET_DRAIN,
                )
            )
            bench.rows.append(
                Row(f"5. RSS after the {n:,}-item drain", f"{rss_after:.1f} MB", "", "", None)
            )
            if rate < TARGET_DRAIN:
                finding = await profile_drain(bench, session, server, sidecar, rate)
                finding.sql_rows = copy_rows
                finding.sql = sqlite.statement_costs(bench.work / "drain-copy.db")
    finally:
        sidecar.stop()
        await server.stop()


async def profile_drain(
    bench: Bench,
    session: aiohttp.ClientSession,
    server: SimulatorServer,
    sidecar: Sidecar,
    rate: float,
) -> Finding:
    # Enough queued to keep the drain busy past the end of the recording.
    n = min(bench.plan.drain, int(rate * (bench.plan.profile_seconds + 4)))
    await fill(session, server, sidecar, n, "p")
    server.sim.journal.clear()
    return await bench.profile(
        f"replay drain, pacing off (a repeat with {n:,} queued)",
        sidecar.pid,
        "profile-drain",
        asyncio.ensure_future(drain(session, server, sidecar, n)),
    )

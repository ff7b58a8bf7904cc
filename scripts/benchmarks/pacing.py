"""Phase 4 of the benchmark, the paced drain: payments queued offline drained with pacing on,
and the busiest 1 s and 30 s windows of calls at the simulator held to Gameball's rate limit."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from scripts.benchmarks.backlog import drain, fill
from scripts.benchmarks.measure import Bench, log
from scripts.benchmarks.plan import JSON, NO_LIMITS, PER_30S, PER_SECOND
from scripts.benchmarks.procs import Sidecar
from scripts.benchmarks.report import Row
from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.app import PREFIX
from sidecar.simulator.ratelimit import is_limited


async def run(bench: Bench) -> None:
    n = bench.plan.paced
    log(f"drain of {n:,}, paced at {PER_SECOND}/s and {PER_30S}/30 s")
    bench.unpin()
    server = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=True))
    await server.start()
    sidecar = Sidecar(
        base_url=server.base_url,
        workdir=bench.work / "paced",
        SIDECAR_PACING_ENABLED="true",
        SIDECAR_PACING_PER_SECOND=str(PER_SECOND),
        SIDECAR_PACING_PER_30_SECONDS=str(PER_30S),
        **NO_LIMITS,
    )
    try:
        await sidecar.start()
        async with aiohttp.ClientSession(headers=JSON) as session:
            await fill(session, server, sidecar, n, "q")
            elapsed, _ = await drain(session, server, sidecar, n)
    finally:
        sidecar.stop()
        await server.stop()
    # Every call the simulator counts against the account's budget, refused ones included.
    requests = server.sim.requests
    limited = sorted(r["time"] for r in requests if is_limited(r["path"].removeprefix(PREFIX)))
    refused = sum(1 for r in requests if r["status"] == 429)
    worst_1s, worst_30s = busiest(limited, 1.0), busiest(limited, 30.0)
    why = f"{n:,} payments, not 10,000: a paced drain of 10,000 takes ~15 min"
    if n <= PER_30S:
        why += f"; fewer than {PER_30S}, so the 30 s window is not put to the test"
    bench.rows.append(
        Row(
            f"4. Replay drain, paced ({PER_SECOND}/s, {PER_30S}/30 s): most calls arriving at "
            "the simulator in any sliding 1 s / 30 s window",
            f"**{worst_1s} / {worst_30s}** of {len(limited):,} calls; {refused} answered "
            f"429; drained in {elapsed:.1f} s ({n / elapsed:.1f}/s). {why}",
            "every window that starts at an arrival (sim.requests times), which covers all",
            f"≤ {PER_SECOND} / ≤ {PER_30S}, never exceeded",
            worst_1s <= PER_SECOND and worst_30s <= PER_30S and refused == 0,
        )
    )


def busiest(times: Sequence[float], window: float) -> int:
    """The most arrivals in any half-open window [t, t + window) over the sorted times: the
    busiest window can always slide right until it starts at an arrival, so those suffice."""
    most, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window:
            j += 1
        most = max(most, j - i)
    return most

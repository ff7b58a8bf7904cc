"""Phase 5 of the benchmark, start and memory: the sidecar started several times, each timed
from fork to READY=1 on its NOTIFY_SOCKET, and its resident memory once idle."""

from __future__ import annotations

import asyncio
import statistics

from scripts.benchmarks.measure import Bench, log
from scripts.benchmarks.plan import TARGET_READY, TARGET_RSS
from scripts.benchmarks.procs import Sidecar
from scripts.benchmarks.report import Row
from sidecar.simulator import SimulatorServer


async def run(bench: Bench, server: SimulatorServer) -> Sidecar:
    """Time the starts and the idle RSS; returns the last sidecar, still running, for the
    latency phase (its quote cache lives an hour, so cache hits stay hits)."""
    # The first start creates the database (migrations); the others are restarts.
    ready: list[float] = []
    sidecar: Sidecar | None = None
    try:
        for n in range(bench.plan.starts):
            if sidecar is not None:
                sidecar.stop()
            sidecar = Sidecar(
                base_url=server.base_url,
                workdir=bench.work / "estimates",
                SIDECAR_CACHE_QUOTE_TTL="3600",
            )
            ready.append(await sidecar.start())
            log(f"  start {n + 1}: READY after {ready[-1]:.3f} s")
        assert sidecar is not None
        await asyncio.sleep(2)  # the start-up fetch of the earning rules is over: idle
        bench.rows.extend(rows(ready, sidecar.rss_mb()))
    except BaseException:
        if sidecar is not None:
            sidecar.stop()
        raise
    return sidecar


def rows(ready: list[float], idle_rss: float) -> list[Row]:
    median = statistics.median(ready)
    return [
        Row(
            f"5. Start → READY=1 on NOTIFY_SOCKET, median of {len(ready)} starts",
            f"**{median:.2f} s** (first start, new database: {ready[0]:.2f} s; slowest "
            f"{max(ready):.2f} s)",
            "",
            f"≤ {TARGET_READY:g} s",
            median <= TARGET_READY,
        ),
        Row(
            "5. RSS idle (VmRSS, READY + 2 s, no requests yet)",
            f"**{idle_rss:.1f} MB**",
            "",
            f"≤ {TARGET_RSS:g} MB",
            idle_rss <= TARGET_RSS,
        ),
    ]

"""Phases 1 and 2 of the benchmark, estimate latency: a cache miss through the sidecar against a
direct call to the simulator and a bare pass-through proxy, and a cache hit against the direct
call, at each concurrency; the sidecar is profiled where it misses its target."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import replace

from scripts.benchmarks import startup
from scripts.benchmarks.loadgen import Load, Result
from scripts.benchmarks.measure import Bench, log
from scripts.benchmarks.plan import KEYS, TARGET_RATIO
from scripts.benchmarks.procs import BareProxy, Sidecar
from scripts.benchmarks.report import Row, ms
from sidecar.simulator import Simulator, SimulatorServer

Measured = tuple[Load, Sidecar | None, BareProxy | None]  # the load, and whose CPU counts


async def run(bench: Bench) -> None:
    log("start to READY, RSS idle, estimates")
    server = SimulatorServer(Simulator(seed_demo=True, rate_limits_enabled=False))
    await server.start()
    proxy = BareProxy(server.base_url)
    sidecar: Sidecar | None = None
    try:
        sidecar = await startup.run(bench, server)
        await proxy.start()
        for c in bench.plan.concurrency:
            await estimates_at(bench, c, server, sidecar, proxy)
    finally:
        if sidecar is not None:
            sidecar.stop()
        proxy.stop()
        await server.stop()


async def estimates_at(
    bench: Bench, c: int, server: SimulatorServer, sidecar: Sidecar, proxy: BareProxy
) -> None:
    quote_url = f"{server.base_url}/integrations/payments/cashback"
    estimate = f"{sidecar.url}/v1/estimate-points"
    paths: dict[str, Measured] = {
        "direct": (Load(quote_url, "estimate-miss", f"d{c}", c, 0, KEYS), None, None),
        "bare proxy": (
            Load(f"{proxy.url}/v1/estimate-points", "estimate-miss", f"p{c}", c, 0),
            None,
            proxy,
        ),
        "sidecar miss": (Load(estimate, "estimate-miss", f"m{c}", c, 0), sidecar, None),
        "sidecar hit": (Load(estimate, "estimate-hit", f"h{c}", c, 0), sidecar, None),
    }
    # Rounds interleave the paths, so a drift in the machine's speed hits them alike.
    runs: dict[str, list[Result]] = {name: [] for name in paths}
    quotes = dict.fromkeys(paths, 0)
    for r in range(bench.plan.rounds):
        for name, (load, measured_sidecar, measured_proxy) in paths.items():
            tag = load.tag if load.kind == "estimate-hit" else f"{load.tag}r{r}"
            load = replace(load, tag=tag, seconds=bench.plan.seconds)
            label = f"estimate {name} c={c}"
            result, reached = await bench.load(
                label, load, server, measured_sidecar, measured_proxy
            )
            runs[name].append(result)
            quotes[name] += reached
    direct, bare, miss, hit = (combine(runs[name]) for name in paths)
    cpu = {
        name: bench.cpu_per_request(f"estimate {name} c={c}", combine(runs[name]).requests)
        for name in ("bare proxy", "sidecar miss")
    }
    bench.rows.append(miss_row(c, direct, bare, miss, quotes["sidecar miss"], cpu))
    if bench.rows[-1].met is False:
        work = bench.run(
            replace(paths["sidecar miss"][0], tag=f"m{c}prof", seconds=bench.profile_load_seconds)
        )
        await bench.profile(
            f"estimate, cache miss, c={c}",
            sidecar.pid,
            f"profile-estimate-c{c}",
            asyncio.ensure_future(work),
        )
    bench.rows.append(
        Row(
            f"2. Estimate, cache hit, c={c}: through the sidecar, p50 / p99",
            f"**{hit.p50_ms:.2f}** / {hit.p99_ms:.2f} ms ({hit.rate:,.0f}/s; "
            f"{quotes['sidecar hit']} quotes reached the simulator for {hit.requests:,} "
            "requests)",
            f"direct to the simulator **{direct.p50_ms:.2f}** / {direct.p99_ms:.2f} ms",
            "p50 below the direct call's",
            hit.p50_ms < direct.p50_ms,
        )
    )
    if hit.p50_ms >= direct.p50_ms:
        work = bench.run(replace(paths["sidecar hit"][0], seconds=bench.profile_load_seconds))
        await bench.profile(
            f"estimate, cache hit, c={c}",
            sidecar.pid,
            f"profile-hit-c{c}",
            asyncio.ensure_future(work),
        )


def miss_row(
    c: int, direct: Result, bare: Result, miss: Result, quotes: int, cpu: dict[str, float]
) -> Row:
    added, bare_added = miss.p50_ms - direct.p50_ms, bare.p50_ms - direct.p50_ms
    ratio = added / bare_added if bare_added > 0 else float("inf")
    return Row(
        f"1. Estimate, cache miss, c={c}: through the sidecar, p50 / p99",
        f"{ms(miss)}: added **{added:+.2f}** / {miss.p99_ms - direct.p99_ms:+.2f} ms, "
        f"**{ratio:.2f}x** the bare proxy's ({miss.rate:,.0f}/s, "
        f"{cpu['sidecar miss']:.0f} µs CPU per request; {quotes:,} quotes reached the "
        f"simulator for {miss.requests:,} requests)",
        f"direct {ms(direct)} ({direct.rate:,.0f}/s); bare proxy {ms(bare)}: added "
        f"{bare_added:+.2f} / {bare.p99_ms - direct.p99_ms:+.2f} ms ({bare.rate:,.0f}/s, "
        f"{cpu['bare proxy']:.0f} µs CPU per request)",
        f"added p50 ≤ {TARGET_RATIO:g}x the bare proxy's",
        ratio <= TARGET_RATIO,
    )


def combine(results: list[Result]) -> Result:
    """Rounds of one measurement: counts add up; p50 and p99 are the rounds' medians."""
    if len(results) == 1:
        return results[0]
    return Result(
        generator=results[0].generator,
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        errors=sum(r.errors for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        cpu_seconds=sum(r.cpu_seconds for r in results),
    )

"""The sidecar's benchmark on loopback, in one run: estimate latency (cache miss against a direct
call to the simulator and a bare pass-through proxy; cache hit), durable finalize while offline
against raw SQLite commits, replay drain (unpaced rate; paced: the rate limit never exceeded),
RSS and start-to-READY. Prints a markdown table with met/missed per target; the full run also
writes it to var/bench/latest.md. Where a target is missed, the sidecar is profiled with py-spy
during a repeat of that phase (var/bench/profile-*.svg and .txt) and the top frames reported.

The simulator (zero latency, journal cleared between measurements) runs in this process; the
sidecar, the bare proxy and the load generator (wrk, or an aiohttp client process when wrk is
missing) each run in a process of their own.

Usage: scripts/bench [--quick] [--loadgen wrk|aiohttp] [--profile | --no-profile]"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_load
import bench_procs
import bench_sqlite
from bench_load import Load, Result
from bench_procs import BareProxy, Sidecar
from bench_report import Finding, Row, Usage, ms, render

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.app import PREFIX
from sidecar.simulator.ratelimit import is_limited

OUT = bench_procs.ROOT / "var" / "bench"
KEYS = {"APIKey": "bench-api-key", "SecretKey": "bench-secret-key"}
JSON = {"Content-Type": "application/json"}
# Offline limits out of the way: the point is the commit path, not the refusal.
NO_LIMITS = {
    "SIDECAR_LIMITS_MAX_QUEUED_COUNT": "1000000",
    "SIDECAR_LIMITS_MAX_QUEUED_AMOUNT": "1e12",
    "SIDECAR_OUTBOX_CONCURRENCY": "8",
}
PER_SECOND, PER_30S = 30, 360
TARGET_RATIO, TARGET_FINALIZE_RATE, TARGET_FINALIZE_P99 = 1.5, 2000, 20.0
TARGET_DRAIN, TARGET_RSS, TARGET_READY = 500, 60.0, 1.0


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: int  # each latency/throughput measurement (wrk takes whole seconds)
    warmup: int
    starts: int  # sidecar starts timed to READY
    drain: int  # payments queued offline, then drained with pacing off
    paced: int  # payments drained with pacing on
    profile_seconds: int
    rounds: int  # of the estimate measurements, interleaved
    finalize_seconds: int  # each finalize measurement, and the raw SQLite one
    concurrency: tuple[int, ...] = (1, 16)


QUICK = Plan(
    "quick",
    seconds=2,
    warmup=1,
    starts=3,
    drain=1000,
    paced=200,
    profile_seconds=3,
    rounds=1,
    finalize_seconds=2,
)
FULL = Plan(
    "full",
    seconds=5,
    warmup=2,
    starts=5,
    drain=10_000,
    paced=1000,
    profile_seconds=8,
    rounds=3,
    finalize_seconds=10,
)


@dataclass
class Bench:
    plan: Plan
    generator: str
    work: Path
    profiling: bool
    # With two CPUs or more: the load generator on one, what it measures (the sidecar or the bare
    # proxy, and the simulator) on another. Left to the scheduler, whether wrk and the server
    # share a core moved c=1 latencies by 2x from one run to the next.
    cpus: set[int] = field(default_factory=lambda: os.sched_getaffinity(0))
    rows: list[Row] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    async def load(
        self,
        label: str,
        load: Load,
        server: SimulatorServer,
        sidecar: Sidecar | None = None,
        proxy: BareProxy | None = None,
    ) -> tuple[Result, int]:
        """Warm up (another tag, except for cache hits, which warm their one key), then measure,
        recording each process's CPU over the run. Returns the result and how many requests
        reached the simulator during it."""
        self.pin(sidecar, proxy)
        warm_tag = load.tag if load.kind == "estimate-hit" else f"{load.tag}w"
        await self._run(replace(load, tag=warm_tag, seconds=self.plan.warmup))
        server.sim.journal.clear()
        pids = [p.pid for p in (sidecar, proxy) if p is not None]
        before, main_before = [bench_procs.cpu_seconds(pid) for pid in pids], _self_cpu()
        machine_before = bench_procs.machine_busy()
        with simulator_gc_off():
            result = await self._run(load)
        machine = bench_procs.machine_busy() - machine_before
        spent = [bench_procs.cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
        self._record(
            Usage(
                label=label,
                seconds=result.seconds,
                sidecar=spent[0] if sidecar else None,
                main=_self_cpu() - main_before,
                proxy=spent[-1] if proxy else None,
                loadgen=result.cpu_seconds,
                machine=machine,
            )
        )
        if result.errors:
            self.notes.append(f"{label}: {result.errors} of {result.requests} requests failed")
        log(f"  {label}: {result.rate:,.0f}/s, p50 / p99 {ms(result)}")
        return result, len(server.sim.requests)

    @property
    def _profile_load_seconds(self) -> int:
        return self.plan.profile_seconds + 2  # outlasts the recording

    def _record(self, usage: Usage) -> None:
        """One line per measurement: rounds of the same one add up."""
        if usage.others > 0.2 * usage.seconds:
            self.notes.append(
                f"{usage.label}: other processes on the machine used "
                f"{100 * usage.others / usage.seconds:.0f}% of a CPU meanwhile; numbers skewed"
            )
        for seen in self.usage:
            if seen.label == usage.label:
                seen.add(usage)
                return
        self.usage.append(usage)

    @property
    def pinning(self) -> bool:
        return len(self.cpus) >= 2 and shutil.which("taskset") is not None

    def pin(self, *measured: Sidecar | BareProxy | None) -> None:
        """This process (the simulator) and the measured ones on the second CPU."""
        if self.pinning:
            for pid in (os.getpid(), *(p.pid for p in measured if p is not None)):
                bench_procs.pin(pid, {sorted(self.cpus)[1]})

    def unpin(self) -> None:
        """Back to every CPU; processes started from here on inherit it."""
        bench_procs.pin(os.getpid(), self.cpus)

    async def _run(self, load: Load) -> Result:
        cpu = min(self.cpus) if self.pinning else None
        return await asyncio.to_thread(bench_load.run, load, self.generator, self.work, cpu)

    async def profile(self, title: str, pid: int, stem: str, work: Awaitable[object]) -> Finding:
        """py-spy the sidecar while ``work`` (already started by the caller) repeats a phase."""
        finding = Finding(title, None)
        self.findings.append(finding)
        if self.profiling:
            log(f"  profiling: {title}")
            finding.profile = await bench_procs.record(pid, self.plan.profile_seconds, OUT / stem)
        await work
        return finding

    # -- 5. start to READY, RSS idle; 1-2. estimates ----------------------------------------------

    async def estimates(self) -> None:
        log("start to READY, RSS idle, estimates")
        server = SimulatorServer(Simulator(seed_demo=True, rate_limits_enabled=False))
        await server.start()
        proxy = BareProxy(server.base_url)
        sidecar: Sidecar | None = None
        try:
            # The first start creates the database (migrations); the others are restarts.
            ready = []
            for n in range(self.plan.starts):
                if sidecar is not None:
                    sidecar.stop()
                sidecar = Sidecar(
                    base_url=server.base_url,
                    workdir=self.work / "estimates",
                    SIDECAR_CACHE_QUOTE_TTL="3600",
                )
                ready.append(await sidecar.start())
                log(f"  start {n + 1}: READY after {ready[-1]:.3f} s")
            assert sidecar is not None
            await asyncio.sleep(2)  # the start-up fetch of the earning rules is over: idle
            self._start_rows(ready, sidecar.rss_mb())
            await proxy.start()
            for c in self.plan.concurrency:
                await self._estimates_at(c, server, sidecar, proxy)
        finally:
            if sidecar is not None:
                sidecar.stop()
            proxy.stop()
            await server.stop()

    def _start_rows(self, ready: list[float], idle_rss: float) -> None:
        median = statistics.median(ready)
        self.rows.append(
            Row(
                f"5. Start → READY=1 on NOTIFY_SOCKET, median of {len(ready)} starts",
                f"**{median:.2f} s** (first start, new database: {ready[0]:.2f} s; slowest "
                f"{max(ready):.2f} s)",
                "",
                f"≤ {TARGET_READY:g} s",
                median <= TARGET_READY,
            )
        )
        self.rows.append(
            Row(
                "5. RSS idle (VmRSS, READY + 2 s, no requests yet)",
                f"**{idle_rss:.1f} MB**",
                "",
                f"≤ {TARGET_RSS:g} MB",
                idle_rss <= TARGET_RSS,
            )
        )

    async def _estimates_at(
        self, c: int, server: SimulatorServer, sidecar: Sidecar, proxy: BareProxy
    ) -> None:
        quote_url = f"{server.base_url}/integrations/payments/cashback"
        paths: dict[str, tuple[Load, Sidecar | None, BareProxy | None]] = {
            "direct": (Load(quote_url, "estimate-miss", f"d{c}", c, 0, KEYS), None, None),
            "bare proxy": (
                Load(f"{proxy.url}/v1/estimate-points", "estimate-miss", f"p{c}", c, 0),
                None,
                proxy,
            ),
            "sidecar miss": (
                Load(f"{sidecar.url}/v1/estimate-points", "estimate-miss", f"m{c}", c, 0),
                sidecar,
                None,
            ),
            "sidecar hit": (
                Load(f"{sidecar.url}/v1/estimate-points", "estimate-hit", f"h{c}", c, 0),
                sidecar,
                None,
            ),
        }
        # Rounds interleave the paths, so a drift in the machine's speed hits them alike.
        runs: dict[str, list[Result]] = {name: [] for name in paths}
        quotes = dict.fromkeys(paths, 0)
        for r in range(self.plan.rounds):
            for name, (load, measured_sidecar, measured_proxy) in paths.items():
                tag = load.tag if load.kind == "estimate-hit" else f"{load.tag}r{r}"
                load = replace(load, tag=tag, seconds=self.plan.seconds)
                label = f"estimate {name} c={c}"
                result, reached = await self.load(
                    label, load, server, measured_sidecar, measured_proxy
                )
                runs[name].append(result)
                quotes[name] += reached
        direct, bare, miss, hit = (combine(runs[name]) for name in paths)
        cpu = {
            name: self._cpu_of(f"estimate {name} c={c}", combine(runs[name]).requests)
            for name in ("bare proxy", "sidecar miss")
        }
        self._miss_row(c, direct, bare, miss, quotes["sidecar miss"], cpu)
        if self.rows[-1].met is False:
            work = self._run(
                replace(
                    paths["sidecar miss"][0], tag=f"m{c}prof", seconds=self._profile_load_seconds
                )
            )
            await self.profile(
                f"estimate, cache miss, c={c}",
                sidecar.pid,
                f"profile-estimate-c{c}",
                asyncio.ensure_future(work),
            )
        self.rows.append(
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
            work = self._run(replace(paths["sidecar hit"][0], seconds=self._profile_load_seconds))
            await self.profile(
                f"estimate, cache hit, c={c}",
                sidecar.pid,
                f"profile-hit-c{c}",
                asyncio.ensure_future(work),
            )

    def _cpu_of(self, label: str, requests: int) -> float:
        """Microseconds of CPU per request of the sidecar or bare proxy in one measurement."""
        usage = next(u for u in self.usage if u.label == label)
        spent = usage.sidecar if usage.sidecar is not None else usage.proxy
        return 1e6 * (spent or 0.0) / max(1, requests)

    def _miss_row(
        self,
        c: int,
        direct: Result,
        bare: Result,
        miss: Result,
        quotes: int,
        cpu: dict[str, float],
    ) -> None:
        added, bare_added = miss.p50_ms - direct.p50_ms, bare.p50_ms - direct.p50_ms
        ratio = added / bare_added if bare_added > 0 else float("inf")
        self.rows.append(
            Row(
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
        )

    # -- 3. finalize while offline ----------------------------------------------------------------

    async def finalize_offline(self) -> None:
        log("finalize while offline")
        server = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
        await server.start()
        sidecar = Sidecar(base_url=server.base_url, workdir=self.work / "finalize", **NO_LIMITS)
        results: dict[int, Result] = {}
        depth: dict[int, str] = {}
        try:
            await sidecar.start()
            await server.set_down(True)
            async with aiohttp.ClientSession(headers=JSON) as session:
                await go_offline(session, sidecar)
                for c in self.plan.concurrency:
                    url = f"{sidecar.url}/v1/finalize-payment"
                    load = Load(url, "finalize", f"f{c}", c, self.plan.finalize_seconds)
                    before = (await sidecar.status(session))["outbox"]["queued"]
                    results[c], _ = await self.load(
                        f"finalize offline c={c}", load, server, sidecar
                    )
                    queued = (await sidecar.status(session))["outbox"]["queued"]
                    depth[c] = f" (queue grew from {before:,} to {queued:,} rows)"
            top = max(results)
            if not _finalize_met(results[top]):
                rows = bench_sqlite.snapshot(sidecar.db_path, self.work / "finalize-copy.db")
                finding = await self.profile(
                    f"finalize while offline, c={top} (queue growing from {queued:,} rows)",
                    sidecar.pid,
                    "profile-finalize",
                    asyncio.ensure_future(
                        self._run(replace(load, tag="fprof", seconds=self._profile_load_seconds))
                    ),
                )
                finding.sql_rows = rows
                finding.sql = bench_sqlite.statement_costs(self.work / "finalize-copy.db")
        finally:
            sidecar.stop()
            await server.stop()
        row_bytes = bench_sqlite.average_row_bytes(sidecar.db_path)
        raw = await asyncio.to_thread(
            bench_sqlite.raw_commits,
            self.work / "raw" / "raw.db",
            row_bytes,
            self.plan.finalize_seconds,
        )
        log(f"  raw SQLite commits: {raw.rate:,.0f}/s, p50 {raw.p50_ms:.2f} / p99 {raw.p99_ms:.2f}")
        reference = (
            f"raw SQLite, WAL + synchronous=FULL, one {row_bytes}-byte row per commit: "
            f"{raw.rate:,.0f} commits/s, p50 {raw.p50_ms:.2f} / p99 {raw.p99_ms:.2f} ms"
        )
        for c, result in results.items():
            self.rows.append(
                Row(
                    f"3. Finalize while offline (committed, then 202), c={c}",
                    f"**{result.rate:,.0f}/s**, p50 {result.p50_ms:.2f} / p99 "
                    f"**{result.p99_ms:.2f}** ms{depth[c]}",
                    reference,
                    f"≥ {TARGET_FINALIZE_RATE:,}/s and p99 ≤ {TARGET_FINALIZE_P99:g} ms"
                    if c == top
                    else "",
                    _finalize_met(result) if c == top else None,
                )
            )

    # -- 4. replay drain; 5. RSS after it ---------------------------------------------------------

    async def drain_unpaced(self) -> None:
        n = self.plan.drain
        log(f"drain of {n:,}, pacing off")
        self.unpin()
        server = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
        await server.start()
        sidecar = Sidecar(
            base_url=server.base_url,
            workdir=self.work / "drain",
            SIDECAR_PACING_ENABLED="false",
            **NO_LIMITS,
        )
        try:
            await sidecar.start()
            async with aiohttp.ClientSession(headers=JSON) as session:
                filled = await fill(session, server, sidecar, n, "u")
                log(f"  {n:,} queued at {filled:,.0f}/s")
                copy_rows = bench_sqlite.snapshot(sidecar.db_path, self.work / "drain-copy.db")
                server.sim.journal.clear()
                cpu_before, main_before = sidecar.cpu_seconds(), _self_cpu()
                machine_before = bench_procs.machine_busy()
                with simulator_gc_off():
                    elapsed, spread = await drain(session, server, sidecar, n)
                machine = bench_procs.machine_busy() - machine_before
                rss_after = sidecar.rss_mb()
                self._record(
                    Usage(
                        label=f"drain of {n:,}, pacing off",
                        seconds=elapsed,
                        sidecar=sidecar.cpu_seconds() - cpu_before,
                        main=_self_cpu() - main_before,
                        proxy=None,
                        loadgen=None,
                        machine=machine,
                    )
                )
                delivered = sum(1 for e in server.sim.ledger() if e["type"] == "PaymentReward")
                rate = n / elapsed
                log(f"  drained at {rate:,.0f}/s")
                self.rows.append(
                    Row(
                        f"4. Replay drain of {n:,} queued payments ({bench_load.CUSTOMERS} "
                        "customers, outbox.concurrency 8), pacing off",
                        f"**{rate:,.0f} items/s** (reconnect → last delivery {elapsed:.1f} s; "
                        f"first → last delivery {n / spread:,.0f}/s; {delivered:,} in the "
                        "simulator's ledger)",
                        f"queued offline beforehand at {filled:,.0f}/s (16 at a time)",
                        f"≥ {TARGET_DRAIN} items/s",
                        rate >= TARGET_DRAIN,
                    )
                )
                self.rows.append(
                    Row(f"5. RSS after the {n:,}-item drain", f"{rss_after:.1f} MB", "", "", None)
                )
                if rate < TARGET_DRAIN:
                    finding = await self._profile_drain(session, server, sidecar, rate)
                    finding.sql_rows = copy_rows
                    finding.sql = bench_sqlite.statement_costs(self.work / "drain-copy.db")
        finally:
            sidecar.stop()
            await server.stop()

    async def _profile_drain(
        self, session: aiohttp.ClientSession, server: SimulatorServer, sidecar: Sidecar, rate: float
    ) -> Finding:
        # Enough queued to keep the drain busy past the end of the recording.
        n = min(self.plan.drain, int(rate * (self.plan.profile_seconds + 4)))
        await fill(session, server, sidecar, n, "p")
        server.sim.journal.clear()
        return await self.profile(
            f"replay drain, pacing off (a repeat with {n:,} queued)",
            sidecar.pid,
            "profile-drain",
            asyncio.ensure_future(drain(session, server, sidecar, n)),
        )

    async def drain_paced(self) -> None:
        n = self.plan.paced
        log(f"drain of {n:,}, paced at {PER_SECOND}/s and {PER_30S}/30 s")
        self.unpin()
        server = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=True))
        await server.start()
        sidecar = Sidecar(
            base_url=server.base_url,
            workdir=self.work / "paced",
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
        self.rows.append(
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

    def header(self) -> list[str]:
        if self.generator == "wrk":
            generator = (
                "wrk 4.1 in its own process (C, one epoll thread, `-t1 -c1` / `-t1 -c16`, "
                "keep-alive, closed loop), a Lua script making every body (a new totalPaid per "
                "cache miss, a new paymentId per sale)"
            )
        else:
            generator = "an aiohttp client in its own process (scripts/bench_load.py)"
        if self.pinning:
            first, second = sorted(self.cpus)[:2]
            placement = (
                f"the load generator is pinned to CPU {first}, the processes it measures (the "
                f"sidecar or the bare proxy, and the simulator; raw SQLite too) to CPU {second}, "
                "so every path has the same placement (left to the scheduler, c=1 latencies "
                "moved 2x between runs); the drains run unpinned"
            )
        else:
            placement = "nothing is pinned to a CPU"
        return [
            f"- load generator: {generator}; each measurement {self.plan.seconds} s "
            f"({self.plan.finalize_seconds} s for finalize) after a {self.plan.warmup} s "
            f"warm-up; estimates: {self.plan.rounds} interleaved round(s) "
            "of direct / bare proxy / sidecar miss / sidecar hit, p50 and p99 the rounds' "
            f"medians; {placement}",
            "- loopback; the simulator (zero latency, rate limits off except for the paced "
            "drain) runs in the bench process, with its GC paused while measuring; the sidecar "
            "is a subprocess "
            "(`python -m sidecar serve`, log level WARNING, its own database under "
            "var/bench/work/)",
        ]


# -- helpers ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def simulator_gc_off() -> Iterator[None]:
    """No garbage collection in this process (the simulator's) while measuring: the simulator
    stands in for Gameball, and its full collections (tens of ms here) would otherwise land in
    the p99 of whatever happens to be waiting on it. The sidecar keeps its GC."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


def _finalize_met(result: Result) -> bool:
    return result.rate >= TARGET_FINALIZE_RATE and result.p99_ms <= TARGET_FINALIZE_P99


async def go_offline(session: aiohttp.ClientSession, sidecar: Sidecar) -> None:
    """Finalize a few sales with Gameball down until the circuit opens (not measured)."""
    for n in range(50):
        body = bench_load.body("finalize", "offline", n)
        async with session.post(f"{sidecar.url}/v1/finalize-payment", data=body) as answer:
            assert answer.status == 202, await answer.text()
        if (await sidecar.status(session))["connectivity"]["state"] == "offline":
            return
    raise RuntimeError("the sidecar did not go offline")


async def fill(
    session: aiohttp.ClientSession, server: SimulatorServer, sidecar: Sidecar, n: int, tag: str
) -> float:
    """Queue n payments with Gameball down, 16 at a time; returns payments per second."""
    await server.set_down(True)
    started = time.perf_counter()
    numbers = iter(range(n))

    async def worker() -> None:
        for i in numbers:
            body = bench_load.body("finalize", tag, i)
            async with session.post(f"{sidecar.url}/v1/finalize-payment", data=body) as answer:
                assert answer.status == 202, await answer.text()

    await asyncio.gather(*(worker() for _ in range(16)))
    return n / (time.perf_counter() - started)


async def drain(
    session: aiohttp.ClientSession, server: SimulatorServer, sidecar: Sidecar, n: int
) -> tuple[float, float]:
    """Bring Gameball back; returns seconds from then to the n-th payment it accepted, and
    from the first accepted payment to the n-th (arrival times in the simulator's journal)."""
    queued = (await sidecar.status(session))["outbox"]["queued"]
    assert queued == n, f"{queued} queued, expected {n}"
    reconnected = server.sim.now()
    await server.set_down(False)
    # Watched from the simulator's side: polling /v1/status would load the sidecar's database.
    while len(arrivals := accepted(server)) < n:  # noqa: ASYNC110 (the journal has no event)
        await asyncio.sleep(0.05)
    await sidecar.wait_drained(session, within=60)
    return arrivals[n - 1] - reconnected, arrivals[n - 1] - arrivals[0]


def accepted(server: SimulatorServer) -> list[float]:
    """Arrival times of the track-payment calls the simulator accepted, oldest first."""
    path = f"{PREFIX}/integrations/payments"
    return sorted(
        r["time"]
        for r in server.sim.requests
        if r["method"] == "POST" and r["path"] == path and r["status"] == 200
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


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, ~1 min (CI smoke)")
    parser.add_argument("--loadgen", choices=("wrk", "aiohttp"), help="default: wrk if installed")
    profiling = parser.add_mutually_exclusive_group()
    profiling.add_argument("--profile", action="store_true", help="py-spy missed phases (full)")
    profiling.add_argument("--no-profile", action="store_true", help="never profile")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    generator = args.loadgen or ("wrk" if shutil.which("wrk") else "aiohttp")
    if generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install -y wrk); or --loadgen aiohttp")
    work = OUT / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    profile = args.profile or (plan is FULL and not args.no_profile)
    for old in OUT.glob("profile-*") if profile else ():
        old.unlink()  # a profile from an earlier run would mislead
    bench = Bench(plan, generator, work, profiling=profile)
    busy = bench_procs.machine_busy()
    await asyncio.sleep(1)
    if (busy := bench_procs.machine_busy() - busy) > 0.1:
        # Another workload on this machine skews every number; say so next to them.
        bench.notes.append(f"before the run, other processes kept {100 * busy:.0f}% of a CPU busy")
        log(f"warning: the machine is not idle ({100 * busy:.0f}% of a CPU busy before the run)")
    started = time.perf_counter()
    await bench.estimates()
    await bench.finalize_offline()
    await bench.drain_unpaced()
    await bench.drain_paced()
    report = render(
        plan_name=plan.name,
        header=bench.header(),
        rows=bench.rows,
        usage=bench.usage,
        notes=bench.notes,
        findings=bench.findings,
        elapsed=time.perf_counter() - started,
    )
    print(report)
    if plan is FULL:
        (OUT / "latest.md").write_text(report)
        log(f"written to {OUT / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""How the benchmark takes a measurement and keeps it: one run's shared state (plan, rows, CPU
usage, notes, findings), a load run with its warm-up and CPU accounting, CPU pinning, and py-spy
profiles of a phase that missed its target."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from scripts.benchmarks import cpu, loadgen, profiling
from scripts.benchmarks.loadgen import Load, Result
from scripts.benchmarks.plan import OUT, Plan
from scripts.benchmarks.procs import BareProxy, Sidecar
from scripts.benchmarks.report import Finding, Row, Usage, ms
from sidecar.simulator import SimulatorServer


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
        await self.run(replace(load, tag=warm_tag, seconds=self.plan.warmup))
        server.sim.journal.clear()
        pids = [p.pid for p in (sidecar, proxy) if p is not None]
        before, main_before = [cpu.cpu_seconds(pid) for pid in pids], cpu.self_cpu()
        machine_before = cpu.machine_busy()
        with simulator_gc_off():
            result = await self.run(load)
        machine = cpu.machine_busy() - machine_before
        spent = [cpu.cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
        self.record(
            Usage(
                label=label,
                seconds=result.seconds,
                sidecar=spent[0] if sidecar else None,
                main=cpu.self_cpu() - main_before,
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
    def profile_load_seconds(self) -> int:
        return self.plan.profile_seconds + 2  # outlasts the recording

    def record(self, usage: Usage) -> None:
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

    def cpu_per_request(self, label: str, requests: int) -> float:
        """Microseconds of CPU per request of the sidecar or bare proxy in one measurement."""
        usage = next(u for u in self.usage if u.label == label)
        spent = usage.sidecar if usage.sidecar is not None else usage.proxy
        return 1e6 * (spent or 0.0) / max(1, requests)

    @property
    def pinning(self) -> bool:
        return len(self.cpus) >= 2 and shutil.which("taskset") is not None

    @property
    def placement(self) -> tuple[int, int] | None:
        """(the load generator's CPU, the measured processes' CPU), or None: nothing pinned."""
        if not self.pinning:
            return None
        first, second = sorted(self.cpus)[:2]
        return first, second

    def pin(self, *measured: Sidecar | BareProxy | None) -> None:
        """This process (the simulator) and the measured ones on the second CPU."""
        if self.pinning:
            for pid in (os.getpid(), *(p.pid for p in measured if p is not None)):
                cpu.pin(pid, {sorted(self.cpus)[1]})

    def unpin(self) -> None:
        """Back to every CPU; processes started from here on inherit it."""
        cpu.pin(os.getpid(), self.cpus)

    async def run(self, load: Load) -> Result:
        """One load to completion on the load generator's CPU, off the event loop."""
        on = min(self.cpus) if self.pinning else None
        return await asyncio.to_thread(loadgen.run, load, self.generator, self.work, on)

    async def profile(self, title: str, pid: int, stem: str, work: Awaitable[object]) -> Finding:
        """py-spy the sidecar while ``work`` (already started by the caller) repeats a phase."""
        finding = Finding(title, None)
        self.findings.append(finding)
        if self.profiling:
            log(f"  profiling: {title}")
            finding.profile = await profiling.record(pid, self.plan.profile_seconds, OUT / stem)
        await work
        return finding


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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

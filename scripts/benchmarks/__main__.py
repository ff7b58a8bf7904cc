"""The sidecar's benchmark on loopback, in one run: estimate latency (cache miss against a direct
call to the simulator and a bare pass-through proxy; cache hit), durable finalize while offline
against raw SQLite commits, replay drain (unpaced rate; paced: the rate limit never exceeded),
an online finalize's p95 while a backlog drains against its p95 idle (live first), RSS and
start-to-READY. Prints a markdown table with met/missed per target; the full run also
writes it to var/bench/latest.md. Where a target is missed, the sidecar is profiled with py-spy
during a repeat of that phase (var/bench/profile-*.svg and .txt) and the top frames reported.

The simulator (zero latency, journal cleared between measurements) runs in this process; the
sidecar, the bare proxy and the load generator (wrk, or an aiohttp client process when wrk is
missing) each run in a process of their own.

Usage: scripts/bench [--quick] [--only PHASE ...] [--loadgen wrk|aiohttp] [--profile | --no-profile]
(which runs python -m scripts.benchmarks from the repository root)"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable

from scripts.benchmarks import cpu, drain, finalize, latency, livefirst, pacing
from scripts.benchmarks.measure import Bench, log
from scripts.benchmarks.plan import FULL, OUT, QUICK
from scripts.benchmarks.report import header, render

# In this order: the latency phase starts the sidecar first, so it also times start to READY.
PHASES: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "latency": latency.run,
    "finalize": finalize.run,
    "drain": drain.run,
    "pacing": pacing.run,
    "livefirst": livefirst.run,
}


async def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="small counts, ~1 min (CI smoke)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PHASES,
        help="these phases alone (the report is printed, var/bench/latest.md left as it is)",
    )
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
    busy = cpu.machine_busy()
    await asyncio.sleep(1)
    if (busy := cpu.machine_busy() - busy) > 0.1:
        # Another workload on this machine skews every number; say so next to them.
        bench.notes.append(f"before the run, other processes kept {100 * busy:.0f}% of a CPU busy")
        log(f"warning: the machine is not idle ({100 * busy:.0f}% of a CPU busy before the run)")
    started = time.perf_counter()
    for name, phase in PHASES.items():
        if args.only is None or name in args.only:
            await phase(bench)
    report = render(
        plan_name=plan.name,
        header=header(plan, generator, bench.placement),
        rows=bench.rows,
        usage=bench.usage,
        notes=bench.notes,
        findings=bench.findings,
        elapsed=time.perf_counter() - started,
    )
    print(report)
    if plan is FULL and args.only is None:
        (OUT / "latest.md").write_text(report)
        log(f"written to {OUT / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""The markdown the benchmark prints: how it was measured, the results table with met/missed per
target, the CPU each process used during each measurement, and the profiles of phases that
missed."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from scripts.benchmarks.loadgen import Result
from scripts.benchmarks.plan import Plan
from scripts.benchmarks.profiling import Profile
from scripts.benchmarks.sqlite import StatementCost


@dataclass
class Row:
    measurement: str
    result: str
    reference: str
    target: str
    met: bool | None

    @property
    def verdict(self) -> str:
        return "—" if self.met is None else ("**met**" if self.met else "**missed**")


@dataclass
class Usage:
    """CPU seconds each process spent during one measurement (None: not running)."""

    label: str
    seconds: float
    sidecar: float | None
    main: float
    proxy: float | None
    loadgen: float | None
    machine: float  # every process on the machine

    def add(self, other: Usage) -> None:
        def plus(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        self.seconds += other.seconds
        self.sidecar = plus(self.sidecar, other.sidecar)
        self.main += other.main
        self.proxy = plus(self.proxy, other.proxy)
        self.loadgen = plus(self.loadgen, other.loadgen)
        self.machine += other.machine

    @property
    def others(self) -> float:
        ours = (self.sidecar or 0) + self.main + (self.proxy or 0) + (self.loadgen or 0)
        return max(0.0, self.machine - ours)

    def cells(self) -> list[str]:
        def pct(cpu: float | None) -> str:
            return "—" if cpu is None else f"{100 * cpu / self.seconds:.0f}%"

        return [
            self.label,
            pct(self.sidecar),
            pct(self.main),
            pct(self.proxy),
            pct(self.loadgen),
            pct(self.others),
        ]


@dataclass
class Finding:
    title: str
    profile: Profile | None
    sql: list[StatementCost] = field(default_factory=list)
    sql_rows: int = 0


def ms(result: Result) -> str:
    return f"{result.p50_ms:.2f} / {result.p99_ms:.2f} ms"


def header(plan: Plan, generator: str, placement: tuple[int, int] | None) -> list[str]:
    """How the run measured: the load generator, the sizes, and ``placement``: the CPUs of the
    load generator and of what it measures, or None when nothing is pinned."""
    if generator == "wrk":
        how = (
            "wrk 4.1 in its own process (C, one epoll thread, `-t1 -c1` / `-t1 -c16`, "
            "keep-alive, closed loop), a Lua script making every body (a new totalPaid per "
            "cache miss, a new paymentId per sale)"
        )
    else:
        how = "an aiohttp client in its own process (scripts/benchmarks/loadgen.py)"
    if placement is not None:
        first, second = placement
        pinned = (
            f"the load generator is pinned to CPU {first}, the processes it measures (the "
            f"sidecar or the bare proxy, and the simulator; raw SQLite too) to CPU {second}, "
            "so every path has the same placement (left to the scheduler, c=1 latencies "
            "moved 2x between runs); the drains run unpinned"
        )
    else:
        pinned = "nothing is pinned to a CPU"
    return [
        f"- load generator: {how}; each measurement {plan.seconds} s "
        f"({plan.finalize_seconds} s for finalize) after a {plan.warmup} s "
        f"warm-up; estimates: {plan.rounds} interleaved round(s) "
        "of direct / bare proxy / sidecar miss / sidecar hit, p50 and p99 the rounds' "
        f"medians; {pinned}",
        "- loopback; the simulator (zero latency, rate limits off except for the paced "
        "drain) runs in the bench process, with its GC paused while measuring; the sidecar "
        "is a subprocess "
        "(`python -m sidecar serve`, log level WARNING, its own database under "
        "var/bench/work/)",
    ]


def render(
    *,
    plan_name: str,
    header: list[str],
    rows: list[Row],
    usage: list[Usage],
    notes: list[str],
    findings: list[Finding],
    elapsed: float,
) -> str:
    lines = [
        f"# gameball-sidecar benchmark ({plan_name} run)",
        "",
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; the run took "
        f"{elapsed / 60:.1f} min",
        f"- machine: nproc {len(os.sched_getaffinity(0))}, {cpu_model()}; Python "
        f"{platform.python_version()}; {platform.system()} {platform.release()}",
        *header,
        "",
        "| measurement | result | compared with | target | met? |",
        "|---|---|---|---|---|",
        *(
            f"| {r.measurement} | {r.result} | {r.reference} | {r.target} | {r.verdict} |"
            # Sections in issue order; rows within a section in the order they were measured.
            for r in sorted(rows, key=lambda row: row.measurement.split(".")[0])
        ),
        "",
        "CPU used during each measurement, in % of one core (main = the simulator and this "
        "script; other = every other process on the machine, from /proc/stat):",
        "",
        "| measurement | sidecar | main (simulator) | bare proxy | load generator | other |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(u.cells()) + " |" for u in usage),
    ]
    if notes:
        lines += ["", *(f"- note: {note}" for note in notes)]
    for finding in findings:
        lines += ["", *finding_lines(finding)]
    return "\n".join(lines) + "\n"


def finding_lines(finding: Finding) -> list[str]:
    lines = [f"### Missed: {finding.title}", ""]
    found = finding.profile
    if found is None:
        lines.append(
            "Not profiled (a --quick run profiles only with --profile; or --no-profile was "
            "given, or py-spy is missing)."
        )
    else:
        busy = found.samples / (found.seconds * found.rate)
        svg = f"var/bench/{found.svg_path.name}" if found.svg_path else "(none)"
        lines += [
            f"py-spy ({found.rate} Hz, {found.seconds:g} s, blocking sampling) while the phase "
            f"was repeated: {found.samples:,} samples of threads at work (≈{100 * busy:.0f}% of "
            f"one thread busy on average), not counting {found.waiting:,} of threads waiting in "
            f"epoll or queue.get. Flame graph {svg}, collapsed stacks "
            f"var/bench/{found.raw_path.name} (speedscope opens them). Shares below are of the "
            "samples at work.",
            "",
            "- by thread: " + _listing(found.threads),
            "- top of stack by package: " + _listing(found.packages),
            "",
            "| top of stack (self, with line) | share | sidecar function on the stack | share |",
            "|---|---|---|---|",
        ]
        for i in range(max(len(found.top_self), len(found.top_sidecar))):
            left = found.top_self[i] if i < len(found.top_self) else None
            right = found.top_sidecar[i] if i < len(found.top_sidecar) else None
            lines.append(
                f"| {left[1] if left else ''} | {f'{100 * left[0]:.0f}%' if left else ''} "
                f"| {right[1] if right else ''} | {f'{100 * right[0]:.0f}%' if right else ''} |"
            )
    if finding.sql:
        lines += [
            "",
            "The sidecar's outbox statements (sidecar/store/queries.py) timed on a copy of its "
            f"database with {finding.sql_rows:,} queued rows:",
            "",
            "| statement | ms per run | query plan |",
            "|---|---|---|",
            *(f"| {c.name} | {c.ms:.3f} | {c.plan} |" for c in finding.sql),
        ]
    return lines


def _listing(shares: list[tuple[float, str]]) -> str:
    return ", ".join(f"{name} {100 * share:.0f}%" for share, name in shares)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"

"""Chaos suite "badinput": hostile bodies, headers and HTTP at a real sidecar process beside the
Gameball simulator. Every case must get a 4xx in the one error shape (or, for garbage below
HTTP, a 4xx or a closed connection), nothing may show up as a 5xx in the sidecar's own log, the
process must stay up and healthy after each case, and its memory must stay bounded."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from scripts.chaos_suites.badinput.cases import cases
from scripts.chaos_suites.badinput.memory import MAX_GROWTH_MB, MB, RssSampler
from scripts.chaos_suites.badinput.target import Result, Target, healthy, warm_up
from scripts.chaos_suites.common import spec_violations
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess


@dataclass
class Run:
    rows: list[tuple[str, Result]] = field(default_factory=list)
    baseline: int = 0
    peak: int = 0
    final: int = 0
    parser_errors: int = 0
    spec_violations: int = 0


async def attack(quick: bool, work: Path) -> Run:
    server = SimulatorServer(Simulator(rate_limits_enabled=False))
    await server.start()
    sidecar = SidecarProcess(
        base_url=server.base_url, data_dir=work / "data", log_path=work / "sidecar.log"
    )
    run = Run()
    sampler: RssSampler | None = None
    try:
        sidecar.start()
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await sidecar.wait_ready(session)
            assert sidecar.process is not None
            target = Target(sidecar, session, work / "sidecar.log")
            sampler = RssSampler(sidecar.process.pid)
            sampler.start()
            await warm_up(target)
            run.baseline = await sampler.settled()
            target.new_log_problems()
            sampler.peak = run.baseline
            for case in cases(quick):
                try:
                    result = await case.check(target)
                except Exception as exc:
                    result = Result(f"{type(exc).__name__}", False, str(exc)[:80])
                await asyncio.sleep(0.05)  # let a client-gone failure reach the log
                if not await healthy(target):
                    result = Result(result.got, False, "sidecar not healthy afterwards")
                problems = target.new_log_problems()
                if problems:
                    result = Result(result.got, False, "; ".join(sorted(set(problems))))
                run.rows.append((case.name, result))
            run.peak = sampler.peak
            run.final = await sampler.settled()
            run.parser_errors = target.parser_errors
            run.spec_violations = spec_violations("badinput", server)
    finally:
        if sampler is not None:
            sampler.stop()
        if sidecar.process is not None and sidecar.process.poll() is None:
            sidecar.stop()
        await server.stop()
    return run


def main(quick: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="chaos-badinput-") as tmp:
        run = asyncio.run(attack(quick, Path(tmp)))
    growth = (run.peak - run.baseline) / MB
    bounded = growth <= MAX_GROWTH_MB
    memory = Result(f"+{growth:.1f} MB", bounded, f"limit {MAX_GROWTH_MB:.0f} MB")
    rows = [*run.rows, ("memory bounded (peak over idle)", memory)]
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'status':<26}  result")
    for name, result in rows:
        verdict = "OK" if result.ok else "FAILED"
        note = f"  ({result.note})" if result.note else ""
        print(f"{name:<{width}}  {result.got:<26}  {verdict}{note}")
    ok = sum(result.ok for _, result in rows)
    print(
        f"badinput: cases={len(rows)} ok={ok} failed={len(rows) - ok} "
        f"peak_rss_mb={run.peak / MB:.1f} growth_mb={growth:.1f} "
        f"spec_violations={run.spec_violations}"
    )
    print(
        f"badinput: baseline_rss_mb={run.baseline / MB:.1f} final_rss_mb={run.final / MB:.1f} "
        f"aiohttp_parser_error_lines={run.parser_errors}"
    )
    return ok == len(rows) and run.spec_violations == 0

"""How the fuzz suite runs: the schemathesis passes (Gameball up, then down) against a real
sidecar process beside the simulator, each read back into Findings, and the hypothesis
properties in a pytest process of their own."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from scripts.chaos_suites.common import spec_violations
from scripts.chaos_suites.fuzz.findings import AccessLog, Findings
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

ROOT = Path(__file__).resolve().parents[3]
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "status_code_conformance",
)
# With Gameball down a documented, retryable 503 is the right answer (README, "The local API"),
# so that pass leaves out not_a_server_error and every 5xx body is judged here instead.
OFFLINE_CHECKS = CHECKS[1:]


@dataclass(frozen=True)
class Pass:
    """One schemathesis run: with Gameball up, then down (offline answers: 503s, queued 202s)."""

    name: str
    phases: str
    max_examples: int
    checks: tuple[str, ...] = CHECKS


# The coverage phase alone sends about a thousand boundary and negative cases; quick skips it.
FULL = (
    Pass("online", "examples,coverage,fuzzing,stateful", 150),
    Pass("offline", "fuzzing,stateful", 40, OFFLINE_CHECKS),
)
QUICK = (
    Pass("online", "fuzzing,stateful", 8),
    Pass("offline", "fuzzing,stateful", 4, OFFLINE_CHECKS),
)
# One worker: with more, schemathesis 4.32 on Python 3.11 sometimes fails inside its own
# generator (hypothesis parsing lambdas on two threads), which would hide operations.
WORKERS = 1
PROPERTIES = ("tests/web/test_edge_properties.py", "tests/store/test_outbox_properties.py")


def schemathesis_command(url: str, report_dir: Path, run: Pass, seed: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        ",".join(run.checks),
        "--phases",
        run.phases,
        "--max-examples",
        str(run.max_examples),
        "--workers",
        str(WORKERS),
        "--seed",
        str(seed),
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        "--no-color",
    ]


async def schemathesis(url: str, run: Pass, work: Path, seed: int) -> tuple[int, Findings]:
    report_dir = work / f"report-{run.name}"
    transcript = work / f"schemathesis-{run.name}.txt"
    with transcript.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *schemathesis_command(url, report_dir, run, seed),
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        status = await asyncio.wait_for(process.wait(), timeout=1800)
    findings = Findings()
    for report in sorted(report_dir.glob("*.ndjson")):
        for line in report.read_text().splitlines():
            findings.read(json.loads(line))
    if status != 0:
        print(transcript.read_text(errors="replace")[-6000:], flush=True)
    return status, findings


async def fuzz(
    quick: bool, work: Path
) -> tuple[dict[str, tuple[int, Findings]], AccessLog, bool, int]:
    """Each pass's (exit status, findings), the sidecar's access log, whether it is up, and how
    many of its requests to Gameball were outside Gameball's spec."""
    server = SimulatorServer(Simulator(rate_limits_enabled=False))
    await server.start()
    sidecar = SidecarProcess(
        base_url=server.base_url, data_dir=work / "data", log_path=work / "sidecar.log"
    )
    results: dict[str, tuple[int, Findings]] = {}
    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
        seed = random.randrange(2**31)
        for run in QUICK if quick else FULL:
            await server.set_down(run.name == "offline")
            results[run.name] = await schemathesis(sidecar.url, run, work, seed)
        alive = sidecar.process is not None and sidecar.process.poll() is None
        outside_spec = spec_violations("fuzz", server)
        return results, AccessLog.read(work / "sidecar.log"), alive, outside_spec
    finally:
        if sidecar.process is not None and sidecar.process.poll() is None:
            sidecar.stop()
        await server.stop()


def run_properties() -> tuple[bool, str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PROPERTIES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", flush=True)
    return result.returncode == 0, lines[-1] if lines else "(no output)"

"""Suite 6, disk: the database's disk fills up (a small tmpfs, and the max_db_mb quota), is
read-only at start, and is made unwritable under a running sidecar. Whatever the disk does, no
2xx is given for a payment that is not in the outbox, nothing refused is stored, and once space
is back the service takes sales again without a restart and delivers each one exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from scripts.chaos_suites.common import figures, spec_violations
from scripts.chaos_suites.disk.delivery import unwritable_during_delivery
from scripts.chaos_suites.disk.full import full_filesystem
from scripts.chaos_suites.disk.quota import quota
from scripts.chaos_suites.disk.readonly import read_only_start, read_only_while_running
from scripts.chaos_suites.disk.sales import Simulators


async def run(quick: bool) -> bool:
    work = Path(tempfile.mkdtemp(prefix="chaos-disk-"))
    started = time.monotonic()
    results: dict[str, tuple[bool, dict[str, object]]] = {}
    simulators = Simulators()
    try:
        scenarios: list[tuple[str, Callable[[], Awaitable[tuple[bool, dict[str, object]]]]]] = [
            ("full", lambda: full_filesystem(work, quick, simulators)),
            ("quota", lambda: quota(work, quick, simulators)),
            ("read-only start", lambda: read_only_start(work, simulators)),
            ("read-only while running", lambda: read_only_while_running(work, simulators)),
            ("unwritable during delivery", lambda: unwritable_during_delivery(work, simulators)),
        ]
        only = os.environ.get("CHAOS_DISK_ONLY")  # e.g. "full", to look at one scenario
        for name, scenario in scenarios:
            if only and name != only:
                results[name] = (True, {"skipped": "CHAOS_DISK_ONLY"})
                continue
            already = len(simulators.started)
            try:
                results[name] = await scenario()
            except Exception as exc:
                results[name] = (False, {"crashed": f"{type(exc).__name__}: {exc}"})
            ok, values = results[name]
            outside_spec = spec_violations(f"disk {name}", *simulators.started[already:])
            values["spec_violations"] = outside_spec
            ok = ok and outside_spec == 0
            results[name] = (ok, values)
            print(figures(f"disk {name} [{'ok' if ok else 'FAILED'}]", values), flush=True)
    finally:
        if all(ok for ok, _ in results.values()):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"disk: sidecar logs kept in {work}", flush=True)
    full = results["full"][1]
    false_acks = sum(int(str(v[1].get("false_acks", 0))) for v in results.values())
    print(
        figures(
            "disk",
            {
                "acknowledged": full.get("acknowledged", "?"),
                "refused_503": full.get("refused_503", "?"),
                "stored": full.get("stored", "?"),
                "lost": full.get("lost", "?"),
                "false_acks": false_acks,
                "recovered": full.get("recovered", "no"),
                "read_only_start": results["read-only start"][1].get("read_only_start", "?"),
                "spec_violations": spec_violations("disk", *simulators.started),
                "seconds": round(time.monotonic() - started),
            },
        ),
        flush=True,
    )
    return all(ok for ok, _ in results.values())


def main(quick: bool) -> bool:
    return asyncio.run(run(quick))

"""Suite "slowtests": the test run's slow tests (``pytest -m slow``: a real sidecar process
SIGKILLed mid-sale, the real install and uninstall scripts, every CLI command's help), left
out of the default run to keep it short and run here, so CI runs them too; prints one line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(quick: bool) -> bool:
    del quick  # the slow tests are already sized for CI
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "slow", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = result.stdout.strip().splitlines()
    summary = lines[-1] if lines else result.stderr.strip()[-300:]
    ok = result.returncode == 0 and re.search(r"\d+ passed", summary) is not None
    if not ok:
        print(result.stdout[-6000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
    print(f"slowtests: {summary.strip('= ')} ok={str(ok).lower()}", flush=True)
    return ok

"""Suite "model": the checkout's state machines (tests/model: the whole counter, and the same
with [offline_redemption] on) for many more examples than the default test run, counting
broken promises instead of stopping at the first; prints one line. Each violation's message and
its example's steps go to var/chaos/model-violations.txt.

    scripts/chaos model                        120 examples of each (15 with --quick)
    .venv/bin/python -m scripts.chaos_suites.model --examples 500
    CHAOS_MODEL_EXAMPLES=500 scripts/chaos model
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.base import Base
from tests.model.machine import CheckoutMachine
from tests.model.offline_rules import OfflineRedemptionMachine
from tests.model.promises import Report

ROOT = Path(__file__).resolve().parents[2]

DETAILS = ROOT / "var" / "chaos" / "model-violations.txt"
EXAMPLES = {True: 15, False: 120}


MACHINES: tuple[type[Base], ...] = (CheckoutMachine, OfflineRedemptionMachine)


def run(machine: type[Base], examples: int, steps: int = 30) -> Report:
    report = Report()
    machine.report = report
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                database=None,
                phases=(Phase.generate,),
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        machine.report = None
    return report


def main(quick: bool, examples: int | None = None) -> bool:
    # The sidecar logs every dead letter and outage; here they are the point, not news.
    logging.getLogger("sidecar").setLevel(logging.CRITICAL)
    examples = examples or int(os.environ.get("CHAOS_MODEL_EXAMPLES") or EXAMPLES[quick])
    reports = {machine.__name__: run(machine, examples) for machine in MACHINES}
    violations = [v for report in reports.values() for v in report.violations]
    DETAILS.parent.mkdir(parents=True, exist_ok=True)
    DETAILS.write_text("".join(f"{v}\n\n" for v in violations), encoding="utf-8")
    each = " ".join(
        f"{name}={r.examples}/{r.steps}/{len(r.violations)}" for name, r in reports.items()
    )
    covered = sum((r.covered for r in reports.values()), Counter[str]())
    print(
        f"model: examples={sum(r.examples for r in reports.values())} "
        f"steps={sum(r.steps for r in reports.values())} violations={len(violations)} "
        f"(examples/steps/violations: {each})",
        flush=True,
    )
    print("model:   covered " + " ".join(f"{k}={v}" for k, v in sorted(covered.items())))
    return not violations


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{EXAMPLES[True]} examples")
    parser.add_argument("--examples", type=int, help=f"default {EXAMPLES[False]}")
    args = parser.parse_args()
    sys.exit(0 if main(args.quick, args.examples) else 1)

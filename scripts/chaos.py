"""Runs the chaos suites and prints each one's figures; exit status 1 if any invariant broke.

Each suite is a module scripts/chaos_<name>.py with ``main(quick: bool) -> bool``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUITES = ("crash", "partition", "matrix", "fuzz", "badinput", "model", "disk", "soak")
QUICK_SKIPS = ("soak",)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help=f"any of: {', '.join(SUITES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes, no soak")
    args = parser.parse_args()
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}")
    chosen = args.suites or [s for s in SUITES if not (args.quick and s in QUICK_SKIPS)]
    results: dict[str, bool] = {}
    for name in chosen:
        print(f"\n=== {name} {'(quick)' if args.quick else ''}", flush=True)
        started = time.monotonic()
        module = importlib.import_module(f"chaos_{name}")
        try:
            ok = bool(module.main(args.quick))
        except Exception as exc:  # a suite that crashes has not proved anything
            print(f"{name}: suite failed to run: {type(exc).__name__}: {exc}", flush=True)
            ok = False
        results[name] = ok
        print(
            f"--- {name}: {'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s",
            flush=True,
        )
    print(
        "\nchaos summary: "
        + ", ".join(f"{k}={'OK' if v else 'FAILED'}" for k, v in results.items())
    )
    passed = sum(results.values())
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

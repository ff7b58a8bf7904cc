"""Runs the chaos suites and prints each one's figures; exit status 1 if any invariant broke.

Usage: scripts/chaos [--quick] [suite ...] (python -m scripts.chaos_suites, from the repository
root); the suites are listed in scripts/chaos_suites/suites.py.
"""

from __future__ import annotations

import argparse
import sys
import time

from scripts.chaos_suites.suites import BY_NAME, SUITES


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/chaos", description=__doc__.splitlines()[0] if __doc__ else None
    )
    names = ", ".join(BY_NAME)
    parser.add_argument("suites", nargs="*", help=f"any of: {names} (default: all)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes, no soak")
    args = parser.parse_args()
    unknown = [s for s in args.suites if s not in BY_NAME]
    if unknown:
        parser.error(f"unknown suite {unknown[0]!r}; choose from {names}")
    chosen = (
        [BY_NAME[s] for s in args.suites]
        if args.suites
        else [s for s in SUITES if s.in_quick or not args.quick]
    )
    results: dict[str, bool] = {}
    for suite in chosen:
        print(f"\n=== {suite.name} {'(quick)' if args.quick else ''}", flush=True)
        started = time.monotonic()
        try:
            ok = suite.run(args.quick)
        except Exception as exc:  # a suite that crashes has not proved anything
            print(f"{suite.name}: suite failed to run: {type(exc).__name__}: {exc}", flush=True)
            ok = False
        results[suite.name] = ok
        print(
            f"--- {suite.name}: {'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s",
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

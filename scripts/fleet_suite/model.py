"""The fleet's pacing in a model, in seconds instead of minutes: N tills, each a real Pacer with
a backlog, replaying on stepped time into one sliding-window limiter like the simulator's (no
network, no database; tests/support/fleetmodel.py), a cashier selling live on the first few
as in the fleet run. For trying AIMD's constants before a real fleet run:

    python -m scripts.fleet_suite.model                      # 5x80x2, 20x100x3, 50x100x3
    python -m scripts.fleet_suite.model --cases 20x100x3 --set PROBE_SECONDS=30 --seeds 6

Each --set overrides a constant of sidecar.delivery.aimd or .selfclock for the run. The model
is harsher than the real fleet (no round trip spaces a till's calls)."""

from __future__ import annotations

import argparse
import asyncio

import sidecar.delivery.aimd as aimd
import sidecar.delivery.selfclock as selfclock
from tests.support.fleetmodel import Till, drain


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--cases",
        default="5x80x2,20x100x3,50x100x3",
        help="STORESxBACKLOG[xLIVE_TILLS],... (the quick and full fleet runs' sizes)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--seeds", type=int, default=1, help="runs per case, each its own jitter")
    args = parser.parse_args()
    for setting in args.set:
        name, _, value = setting.partition("=")
        module = next((m for m in (aimd, selfclock) if hasattr(m, name)), None)
        if module is None or not name.isupper():
            parser.error(f"sidecar.delivery.aimd and .selfclock have no constant {name}")
        setattr(module, name, float(value))
    for case in args.cases.split(","):
        stores, backlog, live, *_ = [int(n) for n in case.split("x")] + [0]
        for seed in range(1, args.seeds + 1):
            tills = [Till(backlog=backlog, sells=n < live) for n in range(stores)]
            result = asyncio.run(drain(tills, seed=seed))
            print(f"{result.line()} seed={seed}", flush=True)


if __name__ == "__main__":
    main()

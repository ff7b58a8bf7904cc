"""The fleet's pacing in a model, in seconds instead of minutes: N tills, each a real Pacer with
a backlog, replaying on stepped time into one sliding-window limiter like the simulator's (no
network, no database, no live tills). For trying AIMD's constants before a real fleet run:

    python -m scripts.fleet_suite.model                      # 5x80, 20x100, 50x100
    python -m scripts.fleet_suite.model --cases 20x100 --set RECOVER_SECONDS=45 --set GROWTH=1.08

Each --set overrides a constant of sidecar.delivery.aimd for the run. The model is harsher
than the real fleet (no round trip spaces a till's calls): aimd at 20 stores is 0.60 here,
0.68 to 0.74 in scripts/fleet."""

from __future__ import annotations

import argparse
import asyncio
import random

import sidecar.delivery.aimd as aimd
from sidecar.delivery.pacing import Pacer
from sidecar.simulator.ratelimit import SlidingWindowLimiter
from tests.support.clocks import SteppedTime


async def drain(stores: int, backlog: int, *, seed: int = 1, horizon: float = 3600.0) -> str:
    time = SteppedTime()
    account = SlidingWindowLimiter(per_second=30, per_30s=360, timer=time.timer)
    draws = random.Random(seed)
    done: list[float] = []
    sent = refused = 0

    async def till(paced: Pacer) -> None:
        nonlocal sent, refused
        paced.reconnected()
        left = backlog
        while left:
            await paced.acquire()
            sent += 1
            if account.admit():
                left -= 1
            else:
                refused += 1
                paced.rate_limited()
        done.append(time.timer() - start)

    def pacer() -> Pacer:
        share = draws.random()
        return Pacer(
            windows=[(30, 1.0), (360, 30.0)],
            aimd=True,
            live_reserve=0.05,
            reconnect_jitter=5.0,
            jitter=lambda longest: longest * share,
            timer=time.timer,
            sleep=time.sleep,
        )

    start = time.timer()
    tills = [asyncio.ensure_future(till(pacer())) for _ in range(stores)]
    await time.run(horizon)
    for task in tills:
        task.cancel()
    await asyncio.gather(*tills, return_exceptions=True)
    if len(done) < stores:
        return f"model: stores={stores} backlog={backlog} not drained in {horizon:g} s"
    drain_s = max(done)
    fairness = sum(done) ** 2 / (stores * sum(t * t for t in done))
    return (
        f"model: stores={stores} backlog={backlog} drain_s={drain_s:.1f}"
        f" budget_share={stores * backlog / drain_s / 12:.2f}"
        f" rate_limited_share={refused / max(sent, 1):.3f} fairness={fairness:.2f} seed={seed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", default="5x80,20x100,50x100", help="STORESxBACKLOG,...")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--seeds", type=int, default=1, help="runs per case, each its own jitter")
    args = parser.parse_args()
    for setting in args.set:
        name, _, value = setting.partition("=")
        if not hasattr(aimd, name) or not name.isupper():
            parser.error(f"sidecar.delivery.aimd has no constant {name}")
        setattr(aimd, name, float(value))
    for case in args.cases.split(","):
        stores, _, backlog = case.partition("x")
        for seed in range(1, args.seeds + 1):
            print(asyncio.run(drain(int(stores), int(backlog), seed=seed)), flush=True)


if __name__ == "__main__":
    main()

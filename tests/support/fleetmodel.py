"""A fleet's pacing in a model, in seconds instead of minutes: tills, each a real Pacer with a
backlog, replaying on stepped time into one sliding-window limiter like the simulator's (no
network, no database), some with a cashier selling live as the fleet run's live tills do.
Used by the AIMD tests and by ``python -m scripts.fleet_suite.model``, which tries constants
before a real fleet run."""

from __future__ import annotations

import asyncio
import bisect
import random
from dataclasses import dataclass, field

from sidecar.delivery.pacing import Pacer, RateBudgetSpent
from sidecar.simulator.ratelimit import SlidingWindowLimiter
from tests.support.clocks import SteppedTime

# Gameball's transaction budget: 30 per second and 360 per 30 s, 12/s sustained.
WINDOWS = [(30, 1.0), (360, 30.0)]
SUSTAINED_PER_S = 360 / 30
# A cashier's rhythm (as the fleet run's live tills) and the finalize budget: a sale that finds
# no slot in it, or meets a 429, is queued behind the till's backlog, as a sidecar's would be.
SALE_GAP_S = (1.5, 3.5)
FINALIZE_BUDGET_S = 2.0


@dataclass
class Till:
    backlog: int
    starts_at: float = 0.0  # seconds after the others reconnect
    local_share: float = 1.0
    jitter_share: float | None = None  # the part of the reconnect jitter drawn; None: random
    sells: bool = False  # a cashier sells live at this till until the fleet has drained
    accepted: list[float] = field(default_factory=list)  # seconds from the start
    refused: int = 0
    done_at: float | None = None  # its backlog's last call accepted (queued live sales aside)
    live_sales: int = 0
    live_queued: int = 0  # live sales that found no slot in time or met a 429

    def accepted_between(self, start: float, end: float) -> int:
        return bisect.bisect_left(self.accepted, end) - bisect.bisect_left(self.accepted, start)


@dataclass
class Drain:
    tills: list[Till]
    horizon: float

    @property
    def drained(self) -> bool:
        return all(till.done_at is not None for till in self.tills)

    @property
    def drain_s(self) -> float:
        return max(self.horizon if t.done_at is None else t.done_at for t in self.tills)

    @property
    def budget_share(self) -> float:
        accepted = sum(len(t.accepted) for t in self.tills)
        return accepted / self.drain_s / SUSTAINED_PER_S

    @property
    def rate_limited_share(self) -> float:
        refused = sum(t.refused for t in self.tills)
        return refused / max(1, refused + sum(len(t.accepted) for t in self.tills))

    @property
    def fairness(self) -> float:
        """Jain's index over the tills' drain times."""
        times = [self.horizon if t.done_at is None else t.done_at for t in self.tills]
        return sum(times) ** 2 / (len(times) * sum(t * t for t in times))

    def line(self) -> str:
        head = f"model: stores={len(self.tills)} backlog={self.tills[0].backlog}"
        if not self.drained:
            return f"{head} not drained in {self.horizon:g} s"
        return (
            f"{head} drain_s={self.drain_s:.1f} budget_share={self.budget_share:.2f}"
            f" rate_limited_share={self.rate_limited_share:.3f} fairness={self.fairness:.2f}"
        )


async def drain(
    tills: list[Till],
    *,
    seed: int = 1,
    aimd: bool = True,
    jitter: float = 5.0,
    live_reserve: float = 0.05,
    horizon: float = 3600.0,
) -> Drain:
    """Every till reconnects at its ``starts_at`` (replay after its own jittered delay, as a
    sidecar's) and replays its backlog; a 429 is told to its pacer as Gameball's would be."""
    stepped = SteppedTime()  # the model's own clock: sleeping steps it, no real time passes
    account = SlidingWindowLimiter(per_second=30, per_30s=360, timer=stepped.timer)
    draws = random.Random(seed)
    start = stepped.timer()

    queued: dict[int, int] = {}  # each till's live sales queued behind its backlog

    async def replay(till: Till, paced: Pacer) -> None:
        await stepped.sleep(till.starts_at)
        paced.reconnected()
        left = till.backlog
        if not left:
            till.done_at = stepped.timer() - start
        while not everyone_done():
            if not left and not queued.get(id(till)):
                await stepped.sleep(0.5)
                continue
            await paced.acquire()
            if not account.admit():
                till.refused += 1
                paced.rate_limited()
                continue
            till.accepted.append(stepped.timer() - start)
            if not left:
                queued[id(till)] -= 1
                continue
            left -= 1
            if not left:
                till.done_at = stepped.timer() - start

    async def sell(till: Till, paced: Pacer) -> None:
        rng = random.Random(draws.random())
        while not everyone_done():
            await stepped.sleep(rng.uniform(*SALE_GAP_S))
            till.live_sales += 1
            try:
                await paced.acquire(live=True, within=FINALIZE_BUDGET_S)
                if account.admit():
                    till.accepted.append(stepped.timer() - start)
                    continue
                till.refused += 1
                paced.rate_limited(live=True)
            except RateBudgetSpent:
                pass
            till.live_queued += 1
            queued[id(till)] = queued.get(id(till), 0) + 1

    def everyone_done() -> bool:
        return all(till.done_at is not None for till in tills)

    def pacer(till: Till) -> Pacer:
        drawn = draws.random() if till.jitter_share is None else till.jitter_share
        return Pacer(
            windows=WINDOWS,
            aimd=aimd,
            local_share=till.local_share,
            live_reserve=live_reserve,
            reconnect_jitter=jitter,
            jitter=lambda longest: longest * drawn,
            timer=stepped.timer,
            sleep=stepped.sleep,
        )

    tasks = []
    for till in tills:
        paced = pacer(till)
        tasks.append(asyncio.ensure_future(replay(till, paced)))
        if till.sells:
            tasks.append(asyncio.ensure_future(sell(till, paced)))
    await stepped.run(horizon)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return Drain(tills=tills, horizon=horizon)

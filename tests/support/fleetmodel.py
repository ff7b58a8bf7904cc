"""A fleet's pacing in a model, in seconds instead of minutes: tills, each a real Pacer with a
backlog, replaying on stepped time into one sliding-window limiter like the simulator's (no
network, no database, no live tills). Used by the AIMD tests and by
``python -m scripts.fleet_suite.model``, which tries constants before a real fleet run."""

from __future__ import annotations

import asyncio
import bisect
import random
from dataclasses import dataclass, field

from sidecar.delivery.pacing import Pacer
from sidecar.simulator.ratelimit import SlidingWindowLimiter
from tests.support.clocks import SteppedTime

# Gameball's transaction budget: 30 per second and 360 per 30 s, 12/s sustained.
WINDOWS = [(30, 1.0), (360, 30.0)]
SUSTAINED_PER_S = 360 / 30


@dataclass
class Till:
    backlog: int
    starts_at: float = 0.0  # seconds after the others reconnect
    local_share: float = 1.0
    jitter_share: float | None = None  # the part of the reconnect jitter drawn; None: random
    accepted: list[float] = field(default_factory=list)  # seconds from the start
    refused: int = 0
    done_at: float | None = None

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
    time = SteppedTime()
    account = SlidingWindowLimiter(per_second=30, per_30s=360, timer=time.timer)
    draws = random.Random(seed)
    start = time.timer()

    async def replay(till: Till, paced: Pacer) -> None:
        await time.sleep(till.starts_at)
        paced.reconnected()
        left = till.backlog
        while left:
            await paced.acquire()
            if account.admit():
                till.accepted.append(time.timer() - start)
                left -= 1
            else:
                till.refused += 1
                paced.rate_limited()
        till.done_at = time.timer() - start

    def pacer(till: Till) -> Pacer:
        drawn = draws.random() if till.jitter_share is None else till.jitter_share
        return Pacer(
            windows=WINDOWS,
            aimd=aimd,
            local_share=till.local_share,
            live_reserve=live_reserve,
            reconnect_jitter=jitter,
            jitter=lambda longest: longest * drawn,
            timer=time.timer,
            sleep=time.sleep,
        )

    tasks = [asyncio.ensure_future(replay(till, pacer(till))) for till in tills]
    await time.run(horizon)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return Drain(tills=tills, horizon=horizon)

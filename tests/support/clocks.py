"""Time that moves only when a test moves it, for components that take ``clock``, ``timer``
and ``sleep`` (``sidecar.clocks.Clocks``): nothing in a component test waits for real."""

from __future__ import annotations

import asyncio
import heapq

from sidecar.clocks import Clocks


class FakeTime:
    """Wall time and monotonic time that move together, and only when told: ``advance`` moves
    both; ``sleep`` records the wait asked for, lets other tasks run, and wakes with time moved
    to when it asked to wake (callers sleeping side by side share the same seconds)."""

    def __init__(self, *, wall: float = 1_800_000_000.0, monotonic: float = 1_000.0) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.wall

    def timer(self) -> float:
        return self.monotonic

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "time only moves forward"
        self.wall += seconds
        self.monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        wake_at = self.monotonic + max(0.0, seconds)
        await asyncio.sleep(0)
        self.advance(max(0.0, wake_at - self.monotonic))

    @property
    def clocks(self) -> Clocks:
        return Clocks(clock=self.clock, timer=self.timer, sleep=self.sleep)


class SteppedTime:
    """Time for many tasks side by side (a fleet of pacers): ``sleep`` waits until ``run``
    moves time to the earliest wake-up asked for, so calls happen in the order of their times,
    as they would on a real clock; nothing waits for real."""

    def __init__(self, *, monotonic: float = 1_000.0) -> None:
        self.monotonic = monotonic
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0

    def timer(self) -> float:
        return self.monotonic

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        self._order += 1
        heapq.heappush(self._sleepers, (self.monotonic + max(0.0, seconds), self._order, wake))
        await wake

    async def run(self, until: float) -> None:
        """Wake sleepers in time order until ``until`` seconds from now."""
        end = self.monotonic + until
        while True:
            for _ in range(20):  # let every task woken so far run up to its next sleep
                await asyncio.sleep(0)
            if not self._sleepers or self._sleepers[0][0] > end:
                break
            at, _, wake = heapq.heappop(self._sleepers)
            self.monotonic = max(self.monotonic, at)
            if not wake.done():
                wake.set_result(None)
        self.monotonic = end

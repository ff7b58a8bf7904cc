"""Time that moves only when a test moves it, for components that take ``clock``, ``timer``
and ``sleep`` (``sidecar.clocks.Clocks``): nothing in a component test waits for real."""

from __future__ import annotations

import asyncio

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

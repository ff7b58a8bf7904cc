"""Keeps calls to Gameball inside its account-wide rate limits (sliding windows, e.g. 30 per
second and 360 per 30 seconds), and after a 429 pauses everything, then resumes slowly."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence


class Pacer:
    def __init__(
        self,
        *,
        windows: Sequence[tuple[int, float]],
        enabled: bool = True,
        pause_seconds: float = 30.0,
        restart_rate: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # Windows are kept 5% longer than Gameball's: calls arrive with network jitter, and it is
        # Gameball's count at arrival, not ours at sending, that must stay inside the limit.
        self._windows = [(limit, span * 1.05, deque[float]()) for limit, span in windows]
        self._enabled = enabled
        self._pause_seconds = pause_seconds
        self._restart_rate = restart_rate
        self._full_rate = min((limit / span for limit, span in windows), default=float("inf"))
        self._timer = timer
        self._sleep = sleep
        self.paused_until = 0.0
        # After a 429: a slow rate that doubles every second without another 429.
        self._slow_rate: float | None = None
        self._last_send = 0.0
        self._last_ramp = 0.0

    @property
    def paused(self) -> bool:
        return self._timer() < self.paused_until

    def pause_remaining(self) -> float:
        return max(0.0, self.paused_until - self._timer())

    def rate_limited(self) -> None:
        """Gameball answered 429: the whole account is over budget, so every sender waits."""
        now = self._timer()
        self.paused_until = now + self._pause_seconds
        self._slow_rate = self._restart_rate
        self._last_ramp = self.paused_until

    async def acquire(self) -> None:
        """Wait until one more call fits every window, then count it."""
        while True:
            wait = self._wait_needed(self._timer())
            if wait <= 0:
                now = self._timer()
                for _, _, sent in self._windows:
                    sent.append(now)
                self._last_send = now
                return
            await self._sleep(wait)

    def _wait_needed(self, now: float) -> float:
        wait = self.paused_until - now
        if not self._enabled:
            return wait
        for limit, span, sent in self._windows:
            while sent and sent[0] <= now - span:
                sent.popleft()
            if len(sent) >= limit:
                wait = max(wait, sent[0] + span - now)
        if self._slow_rate is not None:
            if now - self._last_ramp >= 1.0:
                self._slow_rate *= 2
                self._last_ramp = now
                if self._slow_rate >= self._full_rate:
                    self._slow_rate = None
            if self._slow_rate is not None:
                wait = max(wait, self._last_send + 1.0 / self._slow_rate - now)
        return wait

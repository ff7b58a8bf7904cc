"""How fast this sidecar may send after Gameball answered 429, up to its ceiling (its share of
the account's budget, in calls per second). Static, as it always was: every sender pauses
(``pause_on_429``), then restarts slowly, doubling each quiet second. AIMD: a short pause, the
rate halved (a fleet's tills that all met 429 back off together but not in step), and a little
added back each clean second, so tills sharing one account settle on their fair part."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# Without a Retry-After: by then the per-second window Gameball counts in has emptied.
AIMD_PAUSE = 1.0
# The calls in flight when the budget ran out all meet 429 together: one halving for them.
DECREASE_EVERY = 1.0
# Each clean second adds this share of the ceiling back: half to full in 30 seconds, one long
# window. Faster meets more 429s in a fleet (a model of 10 tills on one account: 1/30 met 40%
# more than this) for no more calls accepted.
INCREASE_SHARE = 1 / 60
FLOOR_SHARE = 1 / 64


class RateControl:
    def __init__(
        self,
        *,
        ceiling: float,
        aimd: bool,
        pause_seconds: float,
        restart_rate: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.aimd = aimd
        self._ceiling = ceiling
        self._pause = pause_seconds
        self._restart = restart_rate
        self._timer = timer
        self.paused_until = 0.0
        # None: the windows alone decide; else calls are spaced 1/rate apart.
        self._rate: float | None = None
        self._ramped_at = 0.0
        self._decreased_at = -math.inf

    @property
    def ceiling(self) -> float:
        return self._ceiling

    def set_ceiling(self, ceiling: float) -> None:
        """The share changed (the shared budget came or went): never above the new ceiling."""
        self._ceiling = ceiling
        if self._rate is not None and self._rate >= ceiling:
            self._rate = None

    def rate(self) -> float:
        """The calls per second allowed right now."""
        current = self._current(self._timer())
        return self._ceiling if current is None else current

    def rate_limited(self, retry_after: float | None = None) -> None:
        now = self._timer()
        if not self.aimd:
            pause = max(self._pause, retry_after or 0.0)
            self.paused_until = max(self.paused_until, now + pause)
            self._rate = min(self._restart, self._ceiling)
            self._ramped_at = self.paused_until
            return
        pause = AIMD_PAUSE if retry_after is None else retry_after
        self.paused_until = max(self.paused_until, now + pause)
        if now - self._decreased_at < DECREASE_EVERY:
            return
        current = self._current(now)
        current = self._ceiling if current is None else current
        self._rate = max(self._ceiling * FLOOR_SHARE, current / 2)
        self._decreased_at = now
        self._ramped_at = self.paused_until  # clean seconds count from the end of the pause

    def spacing_wait(self, now: float, last_send: float) -> float:
        """Seconds until the next call keeps the current rate (0: now)."""
        current = self._current(now)
        if current is None:
            return 0.0
        return max(0.0, last_send + 1.0 / current - now)

    def _current(self, now: float) -> float | None:
        if self._rate is None:
            return None
        if self.aimd:
            steps = math.floor(max(0.0, now - self._ramped_at))
            if steps:
                self._rate += steps * self._ceiling * INCREASE_SHARE
                self._ramped_at += steps
        elif now - self._ramped_at >= 1.0:
            # As it always was: one doubling per look, a second after the last.
            self._rate *= 2
            self._ramped_at = now
        if self._rate >= self._ceiling:
            self._rate = None
        return self._rate

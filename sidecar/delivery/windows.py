"""This sidecar's own count of its calls in Gameball's sliding windows (e.g. 30 per second and
360 per 30 seconds), scaled to its share of the account's budget, with a slice of each window
kept for live calls: replay fills what a cashier's call leaves, and it fills the longest
window evenly, so a cashier never finds it full for long."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

# Windows are kept a little longer than Gameball's: calls arrive with network jitter, and it is
# Gameball's count at arrival, not ours at sending, that must stay inside the limit. Jitter is
# absolute, so the slack is 5% of a short window but at most a quarter of a second (5% of a
# 30-second window was 1.5 s, far beyond any network's jitter, and cost 5% of the budget).
SLACK_SHARE = 0.05
SLACK_SECONDS = 0.25
# Replay is also held, over any SMOOTH_SECONDS, to the longest window's sustained rate and a
# BURST more: without it a backlog fills a 30-second window in its first 12 s (at 30/s) and
# nothing frees for the next 18, nor in every 30 s after (slots free as they were used), when
# only the live slice is left for a cashier. At 1.2 it fills in about 25 s, so the window is
# shut for at most about 5 s of each 30; exactly the sustained rate would leave part of a short
# drain's first window unused.
SMOOTH_SECONDS = 3.0
BURST = 1.2
UNLIMITED = 1_000_000_000


def slack(span: float) -> float:
    return span + min(span * SLACK_SHARE, SLACK_SECONDS)


class Window:
    """One (limit, span) pair and the times of the calls sent in it."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.gameball_span = span
        self.span = slack(span)
        self.sent: deque[float] = deque()

    def limits(self, share: float, reserve: float) -> tuple[int, int]:
        """(what a live call may fill, what replay may fill) at this share of the budget."""
        live = max(1, math.floor(self.limit * share + 1e-9))
        return live, max(1, live - math.ceil(live * reserve - 1e-9))

    def wait(self, now: float, allowed: int) -> float:
        while self.sent and self.sent[0] <= now - self.span:
            self.sent.popleft()
        if len(self.sent) < allowed:
            return 0.0
        # The call whose leaving brings the count under ``allowed``.
        return self.sent[len(self.sent) - allowed] + self.span - now


class Smoothing(Window):
    """Not Gameball's: a short window only replay is held to, near the longest one's rate."""

    def __init__(self, longest: Window) -> None:
        super().__init__(longest.limit, SMOOTH_SECONDS)
        self._longest = longest

    def limits(self, share: float, reserve: float) -> tuple[int, int]:
        replay = self._longest.limits(share, reserve)[1]
        part = SMOOTH_SECONDS / self._longest.gameball_span * BURST
        return UNLIMITED, max(1, math.ceil(replay * part - 1e-9))


class Windows:
    def __init__(self, windows: Sequence[tuple[int, float]], *, reserve: float = 0.0) -> None:
        self._windows = [Window(limit, span) for limit, span in windows]
        longest = max(self._windows, key=lambda w: w.span, default=None)
        if longest is not None and longest.gameball_span > 2 * SMOOTH_SECONDS:
            self._windows.append(Smoothing(longest))
        self._reserve = reserve

    def rate(self, share: float) -> float:
        """The sustained calls per second every window allows at this share."""
        rates = [w.limits(share, 0.0)[0] / w.gameball_span for w in self._windows]
        return min(rates, default=math.inf)

    def wait(self, now: float, *, live: bool, share: float) -> float:
        """Seconds until one more call fits every window (0: now)."""
        wait = 0.0
        for window in self._windows:
            live_limit, replay_limit = window.limits(share, self._reserve)
            wait = max(wait, window.wait(now, live_limit if live else replay_limit))
        return wait

    def take(self, now: float) -> float:
        for window in self._windows:
            window.sent.append(now)
        return now

    def give_back(self, taken: float) -> None:
        """Un-count a call taken at ``taken`` that did not go after all."""
        for window in self._windows:
            try:
                window.sent.remove(taken)
            except ValueError:
                pass  # already out of the window

    def shared_limits(self, share: float = 1.0) -> list[tuple[int, int, float]]:
        """(live limit, replay limit, span with its slack) of each window, for the budget the
        fleet shares."""
        return [(*w.limits(share, self._reserve), w.span) for w in self._windows]

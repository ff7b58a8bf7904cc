"""How fast this sidecar may send after Gameball answered 429, up to its ceiling (its share of
the account's budget, in calls per second). Static, as it always was: every sender pauses
(``pause_on_429``), then restarts slowly, doubling each quiet second. AIMD, for a fleet of
tills on one account with no coordinator: a short pause, the rate cut by 30%, then grown back
on a cubic curve, fast at first and flat near the rate that met the 429, so the fleet dwells
just under the account's budget instead of crossing it every few seconds (the growth is
relative to each till's own rate, so it does not depend on how many tills there are); once
the account's longest window is found full, the till keeps to its own calls in it instead
(selfclock); after a reconnect replay starts at a small part of the ceiling and grows from
there."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from .selfclock import LongWindow

# Without a Retry-After: by then the per-second window Gameball counts in has emptied.
AIMD_PAUSE = 1.0
# The calls in flight when the budget ran out all meet 429 together: one decrease for them.
DECREASE_EVERY = 1.0
# A 429 cuts the rate to this part of the rate that met it.
BETA = 0.7
# Seconds the cubic curve takes back to the rate that met the 429; after it, each clean second
# multiplies the rate by GROWTH, to find out whether more fits now. A till of a fleet meets
# about one 429 per cycle, so the longer the cycle the rarer they are (in a model of 20 tills
# on one account: 60 s met 5%, 90 s 4.5%), for a slower climb when tills drop out.
RECOVER_SECONDS = 90.0
GROWTH = 1.05
# After a reconnect replay starts at this part of the ceiling and grows by START_GROWTH each
# second (the ceiling after about 84 s): a fleet reconnecting at once does not all burst at full
# speed into Gameball's windows. A slow start is paid twice: in the first 30-s window, and again
# once that window is full, when only as much frees each second as went 30 s before. At 1/16
# and 5%/s a fleet of five (80 sales each, two selling live) found the window full just as it
# was nearly done and finished on what its first slow seconds freed (real runs 0.72-0.77 of the
# budget); at 1/12 and 3%/s it drains before the window fills, with no 429 at all (0.77, 0.77;
# 0.80, 0.80 once a cashier's calls no longer spaced replay, see pacing), and 20 stores meet
# 4.0-4.4% 429s (0.85-0.88). Faster growth filled the per-second window first, which
# a till then took for the 30-s one (see selfclock), keeping to too few calls; a higher start
# met more 429s at 20 stores. A lone till loses about 53 s of its drain to it; it comes with
# the reconnect jitter, and a store alone on its account turns both off with
# ``reconnect_jitter_seconds = 0``.
START_SHARE = 1 / 12
START_GROWTH = 1.03
FLOOR_SHARE = 1 / 256
# 429s in a row with none of this till's calls of the last MEASURE_SECONDS accepted: the
# account's windows are full for now, and each such look waits twice as long as the last.
MEASURE_SECONDS = 2.0
MAX_DOUBLINGS = 4


class RateControl:
    def __init__(
        self,
        *,
        ceiling: float,
        aimd: bool,
        pause_seconds: float,
        restart_rate: float = 1.0,
        long_span: float = 0.0,
        long_keep: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``long_span``: the account's longest window in seconds (0: none); ``long_keep``:
        the part of its own calls a till keeps there when it finds that window full (the
        rest of the window is left for live calls)."""
        self.aimd = aimd
        self._ceiling = ceiling
        self._pause = pause_seconds
        self._restart = restart_rate
        self._timer = timer
        self.paused_until = 0.0
        # Static: None (the windows alone decide) or the rate doubling back after a pause.
        self._rate: float | None = None
        self._ramped_at = 0.0
        # AIMD: the cubic curve (epoch, low there, high after span seconds), or None: the
        # windows alone decide.
        self._curve: tuple[float, float, float, float] | None = None
        self._decreased_at = -math.inf
        self._blocked = 0
        self._slow_start: float | None = None
        self._sent: deque[float] = deque()
        self._refused: deque[float] = deque()
        self._long = LongWindow(long_span) if long_span > 0 else None
        self._long_keep = long_keep
        self._armed = False  # a 429 came: the next call is the first after a pause
        self._probe = False  # the last call sent was that first one

    @property
    def ceiling(self) -> float:
        return self._ceiling

    def set_ceiling(self, ceiling: float) -> None:
        """The share changed (the shared budget came or went): never above the new ceiling."""
        if self._long is not None and ceiling > self._ceiling:
            self._long.release()  # the fleet's shared budget took over
        self._ceiling = ceiling
        if self._rate is not None and self._rate >= ceiling:
            self._rate = None

    def rate(self) -> float:
        """The calls per second allowed right now (while keeping to the longest window, its
        count over the window's span)."""
        current = self._current(self._timer())
        rate = self._ceiling if current is None else current
        if self._long is not None and self._long.cap is not None:
            rate = min(rate, self._long.cap / self._long.span)
        return rate

    def sent(self, now: float, *, live: bool = False) -> None:
        """A call went: AIMD weighs its 429s against the calls sent. ``live``: a cashier's,
        which is not counted in what replay keeps to in the longest window."""
        if self.aimd:
            self._sent.append(now)
            self._forget(now)
            if self._long is not None and not live:
                self._long.sent(now, self._ceiling * self._long.span)
            self._probe, self._armed = self._armed, False

    def reconnected(self, replay_from: float | None) -> None:
        """Gameball is back after an outage: AIMD replay starts low at ``replay_from`` (None:
        at once, at full rate) and ramps up to the ceiling. The calls that met the outage
        never reached Gameball's window, and what it was full of then has left by now."""
        if self._long is not None:
            self._long.clear()
        if self.aimd:
            self._slow_start = replay_from

    def rate_limited(
        self, retry_after: float | None = None, *, clocked: bool = True, live: bool = False
    ) -> None:
        """Gameball answered 429. ``clocked``: AIMD may keep to this till's own calls in the
        longest window when it finds that window full (not while a shared budget decides);
        ``live``: a cashier's call met it, which does not cut what replay keeps to there."""
        now = self._timer()
        if not self.aimd:
            pause = max(self._pause, retry_after or 0.0)
            self._pause_for(now, pause)
            self._rate = min(self._restart, self._ceiling)
            self._ramped_at = self.paused_until
            return
        self._refused.append(now)
        self._forget(now)
        if self._long is not None:
            if not live:
                self._long.refused(now)
            if live and self._long.capped:
                # Replay's count stays; the short pause and Gameball's word still hold, or a
                # cashier's retries (a redeem in doubt) would meet 429 after 429.
                self._pause_for(now, retry_after or AIMD_PAUSE)
                return
            if clocked and (self._probe or self._long.capped):
                # Refused again after the pause, or while keeping to the longest window: it
                # is that window that is full (see selfclock).
                self._long.full(now, self._long_keep)
                self._pause_for(now, retry_after or 0.0)
                self._probe = False
                # It alone spaces replay now: a rate cut before it knew must not hold on.
                self._curve = self._slow_start = None
                return
        self._probe = False
        self._armed = True
        if now - self._decreased_at < DECREASE_EVERY:
            self._pause_for(now, AIMD_PAUSE)
            return
        current = self.rate()
        accepted = 1.0 - len(self._refused) / max(len(self._sent), len(self._refused))
        self._blocked = self._blocked + 1 if accepted <= 0 else 0
        pause = AIMD_PAUSE * 2 ** min(max(0, self._blocked - 1), MAX_DOUBLINGS)
        pause = pause if retry_after is None else retry_after
        self._pause_for(now, pause)
        self._slow_start = None
        low = max(self._ceiling * FLOOR_SHARE, current * BETA)
        # Clean seconds count from the end of the pause; at the floor it still climbs.
        self._curve = (self.paused_until, low, max(current, low / BETA), RECOVER_SECONDS)
        self._decreased_at = now

    def _pause_for(self, now: float, seconds: float) -> None:
        self.paused_until = max(self.paused_until, now + seconds)

    def release_long(self) -> None:
        """The fleet's shared budget decides again: nothing to keep to in the longest window."""
        if self._long is not None:
            self._long.release()

    def spacing_wait(self, now: float, last_send: float) -> float:
        """Seconds until the next call keeps the current rate (0: now)."""
        current = self._current(now)
        wait = 0.0 if self._long is None else self._long.wait(now)
        if current is None and self.aimd:
            # Never faster than the ceiling, evenly: a till whose count grew past its share
            # burst 25 calls in 0.2 s into the account's per-second window, and the 429 it
            # left another till set that one back for the rest of the drain.
            current = self._ceiling
        if current is None:
            return wait
        return max(wait, last_send + 1.0 / current - now)

    def _forget(self, now: float) -> None:
        for times in (self._sent, self._refused):
            while times and times[0] < now - MEASURE_SECONDS:
                times.popleft()

    def _current(self, now: float) -> float | None:
        if self.aimd:
            return self._on_curve(now)
        if self._rate is None:
            return None
        if now - self._ramped_at >= 1.0:
            # As it always was: one doubling per look, a second after the last.
            self._rate *= 2
            self._ramped_at = now
        if self._rate >= self._ceiling:
            self._rate = None
        return self._rate

    def _on_curve(self, now: float) -> float | None:
        if self._slow_start is not None:
            grown = math.pow(START_GROWTH, max(0.0, now - self._slow_start))
            rate = self._ceiling * START_SHARE * grown
            if rate < self._ceiling:
                return rate
            self._slow_start = None
        if self._curve is None:
            return None
        epoch, low, high, span = self._curve
        # high + (high - low) * ((t - span) / span) ** 3: ``low`` at the epoch, flat at ``high``
        # after ``span`` seconds, then climbing again to find out whether more fits now.
        t = max(0.0, now - epoch)
        if t <= span:
            rate = high + (high - low) * ((t - span) / span) ** 3
        else:
            rate = high * math.pow(GROWTH, t - span)
        if rate >= self._ceiling:
            self._curve = None
            return None
        return rate

"""A till's own calls in the account's longest window (e.g. 360 per 30 s), and, while that
window is full, the most of them it keeps there. When Gameball refuses the first call after
a pause, the pause has emptied the per-second window, so it is the longest one that is full:
the till then keeps to (a little less than) the count of its own calls Gameball holds in it,
sent evenly, one more each time one of its own leaves. Every till of the fleet does the same,
so together they take what frees as it frees and no more, and no till's rate is cut deeper
at every look into a window that stays full for seconds (before, a fleet of 20 lost a third
of its budget to it).

To take what tills that finished their backlog leave, the count grows by one after
PROBE_EVERY of its own calls or PROBE_SECONDS, whichever comes first, then by twice as much
after half as long if no 429 came, and so on; a 429 sets it back to CUT of what Gameball
holds. So while the fleet has more to send than the window frees, a till meets about one 429
per probe (20 tills on one account: one per ~25 of its calls), and a till left alone takes
the whole window within two or three PROBE_SECONDS. The probe is the price of not knowing how
many tills share the account: at 50 tills each keeps ~7 calls per 30 s, and one 429 per 45 s
is 9% of its calls (a fleet that knows its size sets ``local_share``, or shares a budget in
Redis)."""

from __future__ import annotations

import math
from collections import deque

PROBE_EVERY = 30
PROBE_SECONDS = 45.0
# A 429 keeps this part of what Gameball holds of the till's. Who meets the 429 is mostly the
# till whose freed slot a probing one took, likelier the more slots it has: so the cut falls
# on the larger tills and the fleet drifts towards even parts (at 1.0 the parts the tills had
# when they first found the window full stayed as they were: 4 tills at 0.39 min/max).
CUT = 0.95


class LongWindow:
    def __init__(self, span: float) -> None:
        self.span = span
        self._held: deque[float] = deque()  # this till's calls Gameball counts in the window
        self._cap: float | None = None
        self._step = 1
        self._calls = 0  # since the cap last grew
        self._probe_at = 0.0
        self._last_try = -math.inf  # the last call sent, held or refused
        self._full_at = -math.inf  # the last 429 that set the cap

    @property
    def capped(self) -> bool:
        return self._cap is not None

    @property
    def cap(self) -> float | None:
        """The most of this till's calls it keeps in the window now, or None: no such cap."""
        return self._cap

    def sent(self, now: float, most: float) -> None:
        """A call went; ``most``: this till's share of the window, where the cap ends."""
        self._forget(now)
        if self._cap is not None and not self._held and now - self._full_at > self.span:
            # None of its own held and no 429 for a whole window: a cap from before an idle
            # spell says nothing about the window now.
            self._cap = None
        self._held.append(now)
        self._last_try = now
        if self._cap is None:
            return
        self._calls += 1
        if self._calls >= PROBE_EVERY / self._step or now >= self._probe_at:
            self._cap += self._step
            self._step *= 2
            self._calls = 0
            self._next_probe(now)
            if self._cap >= most:
                self._cap = None

    def refused(self, now: float) -> None:
        """The last call sent met a 429: Gameball did not count it."""
        if self._held:
            self._held.pop()
        self._forget(now)

    def full(self, now: float, keep: float = 1.0) -> None:
        """The window is full: keep to CUT of what Gameball holds of this till's now, and of
        that the part ``keep`` (the rest is left for live calls)."""
        self._forget(now)
        self._full_at = now
        self._cap = max(1.0, keep * CUT * len(self._held))
        self._step = 1
        self._calls = 0
        self._next_probe(now)

    def _next_probe(self, now: float) -> None:
        self._probe_at = now + PROBE_SECONDS / self._step

    def release(self) -> None:
        """Nothing to keep to: the windows alone decide again."""
        self._cap = None

    def clear(self) -> None:
        """Gameball holds none of this till's calls (they met an outage)."""
        self._held.clear()
        self._cap = None

    def wait(self, now: float) -> float:
        """Seconds until one more call of this till fits its cap (0: now)."""
        if self._cap is None:
            return 0.0
        self._forget(now)
        over = len(self._held) - math.floor(self._cap)
        wait = 0.0 if over < 0 else self._held[over] + self.span - now
        # Evenly from the last call sent, refused ones too: a till none of whose calls are
        # held (the others fill the window) tries once per span / cap, not at every look.
        wait = max(wait, self._last_try + self.span / self._cap - now)
        return max(0.0, wait)

    def _forget(self, now: float) -> None:
        while self._held and self._held[0] <= now - self.span:
            self._held.popleft()

"""Whether Gameball is reachable: a circuit breaker that opens after consecutive transport
failures, lets one probe through at backed-off intervals, and tells listeners when it closes.
It starts ``unknown`` (calls go out) until Gameball first answers or the failures add up, and
counts time offline from the last success, which survives restarts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Literal

import backoff

log = logging.getLogger(__name__)

State = Literal["unknown", "online", "offline"]


class Connectivity:
    def __init__(
        self,
        *,
        failure_threshold: int,
        probe_initial: float,
        probe_max: float,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        last_success_at: float | None = None,
        first_seen_at: float | None = None,
    ) -> None:
        self._threshold = failure_threshold
        self._probe_initial = probe_initial
        self._probe_max = probe_max
        self._timer = timer
        self._clock = clock
        self._failures = 0
        self._state: State = "unknown"
        self._probing = False
        self._next_probe_at = 0.0
        self._intervals: Iterator[float] = iter(())
        self._listeners: list[Callable[[], None]] = []
        self.changed_at = clock()
        self.last_success_at = last_success_at
        # Offline age is counted from here when Gameball has never answered this terminal.
        self.first_seen_at = first_seen_at if first_seen_at is not None else self.changed_at
        self.last_failure: str | None = None

    def restore(self, *, last_success_at: float | None, first_seen_at: float) -> None:
        """What the last run knew: offline age keeps counting across a restart."""
        if self.last_success_at is None:
            self.last_success_at = last_success_at
        self.first_seen_at = first_seen_at

    @property
    def state(self) -> State:
        return self._state

    @property
    def online(self) -> bool:
        """Gameball has answered and nothing has failed enough since."""
        return self._state == "online"

    @property
    def offline(self) -> bool:
        """The circuit is open: calls answer from the offline path at once."""
        return self._state == "offline"

    def offline_for(self) -> float:
        """Seconds since Gameball last answered (since the first start if it never has); 0 while
        online. Survives restarts, so a restart does not reset the offline limits."""
        if self.online:
            return 0.0
        since = self.last_success_at if self.last_success_at is not None else self.first_seen_at
        return max(0.0, self._clock() - since)

    def seconds_to_next_probe(self) -> float:
        return 0.0 if not self.offline else max(0.0, self._next_probe_at - self._timer())

    def on_recovery(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def probe_due(self) -> bool:
        return self.offline and not self._probing and self._timer() >= self._next_probe_at

    def allow(self) -> bool:
        """May a call go out now? While offline only one probe at a time, when its time comes."""
        if not self.offline:
            return True
        if not self.probe_due():
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        self.last_success_at = self._clock()
        if not self.online:
            was = self._state
            self._state = "online"
            self.changed_at = self._clock()
            log.info("Gameball reachable" + (" again; back online" if was == "offline" else ""))
            for listener in self._listeners:
                listener()

    def record_failure(self, reason: str, *, probe: bool = False) -> None:
        """``probe``: this was the call ``allow`` let through while offline. Only its failure
        schedules the next probe: a call from before the circuit opened may fail late, while
        the probe is still out, and must not let a second probe through beside it."""
        self._failures += 1
        self.last_failure = reason
        if self._probing:
            if probe:
                self._probing = False
                self._schedule_probe()
        elif not self.offline and self._failures >= self._threshold:
            self._state = "offline"
            self.changed_at = self._clock()
            # A fresh backoff sequence each time we go offline: first probe comes quickly.
            self._intervals = backoff.expo(factor=self._probe_initial, max_value=self._probe_max)
            next(self._intervals)  # backoff's generators yield None once before the first value
            self._schedule_probe()
            log.warning(
                "Gameball unreachable after %d consecutive failures (%s); working offline",
                self._failures,
                reason,
            )

    def _schedule_probe(self) -> None:
        interval = next(self._intervals, self._probe_max)
        self._next_probe_at = self._timer() + interval

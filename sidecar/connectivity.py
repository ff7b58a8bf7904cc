"""Whether Gameball is reachable: a circuit breaker that opens after consecutive transport
failures, lets one probe through at backed-off intervals, and tells listeners when it closes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Literal

import backoff

log = logging.getLogger(__name__)

State = Literal["online", "offline"]


class Connectivity:
    def __init__(
        self,
        *,
        failure_threshold: int,
        probe_initial: float,
        probe_max: float,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._threshold = failure_threshold
        self._probe_initial = probe_initial
        self._probe_max = probe_max
        self._timer = timer
        self._clock = clock
        self._failures = 0
        self._state: State = "online"
        self._probing = False
        self._next_probe_at = 0.0
        self._intervals: Iterator[float] = iter(())
        self._listeners: list[Callable[[], None]] = []
        self.changed_at = clock()
        self.last_success_at: float | None = None
        self.last_failure: str | None = None

    @property
    def state(self) -> State:
        return self._state

    @property
    def online(self) -> bool:
        return self._state == "online"

    def seconds_to_next_probe(self) -> float:
        return 0.0 if self.online else max(0.0, self._next_probe_at - self._timer())

    def on_recovery(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def probe_due(self) -> bool:
        return not self.online and not self._probing and self._timer() >= self._next_probe_at

    def allow(self) -> bool:
        """May a call go out now? While offline only one probe at a time, when its time comes."""
        if self.online:
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
            self._state = "online"
            self.changed_at = self._clock()
            log.info("Gameball reachable again; back online")
            for listener in self._listeners:
                listener()

    def record_failure(self, reason: str) -> None:
        self._failures += 1
        self.last_failure = reason
        if self._probing:
            self._probing = False
            self._schedule_probe()
        elif self.online and self._failures >= self._threshold:
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

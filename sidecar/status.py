"""What the sidecar can say about itself: connectivity, how old its earning rules are, and
whether it is ready to take requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import __version__
from .connectivity import Connectivity
from .rules import RulesBook
from .timefmt import iso_ms


class Status:
    def __init__(
        self,
        *,
        connectivity: Connectivity,
        rules: RulesBook,
        store: dict[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connectivity = connectivity
        self._rules = rules
        self._store = store
        self._clock = clock
        self._started = clock()
        self.accepting = False

    def snapshot(self) -> dict[str, Any]:
        c = self._connectivity
        return {
            "version": __version__,
            "uptimeSeconds": round(self._clock() - self._started, 1),
            "store": self._store,
            "connectivity": {
                "state": c.state,
                "since": iso_ms(c.changed_at),
                "lastSuccessAt": iso_ms(c.last_success_at) if c.last_success_at else None,
                "lastFailure": c.last_failure,
                "nextProbeInSeconds": round(c.seconds_to_next_probe(), 1),
            },
            "earningRules": {
                "cached": self._rules.default is not None,
                "fetchedAt": iso_ms(self._rules.fetched_at) if self._rules.fetched_at else None,
            },
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        # Offline is a normal way to work, so it does not make the sidecar unready.
        return self.accepting, {
            "ready": self.accepting,
            "connectivity": self._connectivity.state,
        }

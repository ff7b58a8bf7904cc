"""The configuration alarm: Gameball refused the store's keys, so sending stops (the queue is
kept) until a call is accepted again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Alarm:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.message: str | None = None
        self.code: int | None = None
        self.since: float | None = None

    @property
    def raised(self) -> bool:
        return self.message is not None

    def raise_(self, message: str, code: int | None) -> None:
        if not self.raised:
            log.error("Gameball refused the store's credentials (code %s); queue held", code)
            self.since = self._clock()
        self.message, self.code = message, code

    def clear(self) -> None:
        if self.raised:
            log.info("Gameball accepts the store's credentials again; queue released")
        self.message = self.code = self.since = None

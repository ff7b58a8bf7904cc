"""Timestamps as Gameball reads them, and a per-customer clock that never repeats a millisecond
(Gameball refuses a second transaction for one customer at the same instant, code 9003)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from cachetools import LRUCache


def iso_ms(epoch: float) -> str:
    """``2024-10-11T10:48:56.719Z``: UTC with milliseconds, the form Gameball's docs use."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_gameball_time(text: str | None) -> float | None:
    """Gameball's ``dateToExpire`` comes without a zone suffix; it is UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class TransactionClock:
    """Hands out strictly increasing millisecond timestamps per customer."""

    def __init__(self, clock: Callable[[], float] = time.time, remembered: int = 10_000) -> None:
        self._clock = clock
        self._last: LRUCache[str, int] = LRUCache(maxsize=remembered)

    def next(self, customer_id: str) -> str:
        ms = int(self._clock() * 1000)
        previous = self._last.get(customer_id)
        if previous is not None and ms <= previous:
            ms = previous + 1
        self._last[customer_id] = ms
        return iso_ms(ms / 1000)

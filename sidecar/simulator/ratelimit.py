"""Gameball's account-wide rate limit on payments and transactions, as sliding windows."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

# Quotes (payments/cashback, orders/cashback) have a much larger budget in Gameball; they are
# not limited here. Orders are transactions like payments and share their budget.
LIMITED_PREFIXES = ("/integrations/payments", "/integrations/transactions", "/integrations/orders")
UNLIMITED_PREFIXES = ("/integrations/payments/cashback", "/integrations/orders/cashback")


def is_limited(api_path: str) -> bool:
    """Whether a path below /api/v4.0 counts against the transactions budget."""
    return api_path.startswith(LIMITED_PREFIXES) and not api_path.startswith(UNLIMITED_PREFIXES)


class SlidingWindowLimiter:
    """Admit a call only if every (limit, window) pair has room; refused calls do not count."""

    def __init__(
        self, *, per_second: int, per_30s: int, timer: Callable[[], float], enabled: bool = True
    ) -> None:
        self.enabled = enabled
        self._windows = ((per_second, 1.0), (per_30s, 30.0))
        self._timer = timer
        self._admitted: deque[float] = deque()

    def configure(self, *, per_second: int, per_30s: int, enabled: bool = True) -> None:
        self._windows = ((per_second, 1.0), (per_30s, 30.0))
        self.enabled = enabled

    def admit(self) -> bool:
        if not self.enabled:
            return True
        now = self._timer()
        longest = max(window for _, window in self._windows)
        while self._admitted and self._admitted[0] <= now - longest:
            self._admitted.popleft()
        for limit, window in self._windows:
            if sum(1 for t in self._admitted if t > now - window) >= limit:
                return False
        self._admitted.append(now)
        return True

    def reset(self) -> None:
        self._admitted.clear()

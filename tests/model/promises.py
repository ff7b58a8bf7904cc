"""The promises the model checks, and how a broken one is reported: raised at once (so hypothesis
shrinks it, one exception class per promise so distinct bugs shrink apart) or collected (the
chaos suite counts them over many examples)."""

from __future__ import annotations

import functools
import sys
from collections import Counter
from dataclasses import dataclass, field

PROMISES = {
    "own-points": "1. nobody's points move except by their own checkout",
    "exactly-once": "2. every acknowledged call lands exactly once or sits in a documented "
    "terminal state with a reason",
    "truthful": "3. the cashier is never told something false",
    "ownership": "4. a hold belongs to the customer who made it",
    "spec": "5. every request sent to Gameball is one its published spec allows",
    "documented": "every answer is a documented status and code",
    "idempotency": "an id is one request for life: the same body gets the stored outcome, "
    "another body 409 IDEMPOTENCY_CONFLICT",
    "hold-state": "a used or released hold is refused, and a resent checkout shows the hold's "
    "current state",
    "stored": "a 2xx is stored, a refusal stores nothing (or a dead letter when Gameball refused)",
    "no-wedge": "once Gameball is reachable every customer's queue empties within the bound",
    "order": "each customer's calls reach Gameball one at a time, in the order they were stored",
    "caps": "6. an offline redemption stays within every cap the merchant set: per checkout, "
    "share of the last known balance, per customer and per terminal per day",
    "offline-burn": "7. each offline hold a sale burned is redeemed once at Gameball, or "
    "recorded redemption_failed with its exact points and value; never burned twice",
}


class BrokenPromise(AssertionError):
    """A promise of the checkout did not hold; the message says which and for which ids."""


@functools.cache
def broken(key: str, where: str) -> type[BrokenPromise]:
    """One class per promise and per check that found it, so hypothesis keeps (and shrinks)
    distinct failures apart instead of merging every "truthful" into one."""
    name = f"Broken_{key.replace('-', '_')}_{where.strip('_')}"
    return type(name, (BrokenPromise,), {"__module__": __name__})


@dataclass
class Report:
    """What the chaos suite prints: examples and steps run, promises broken."""

    examples: int = 0
    steps: int = 0
    violations: list[str] = field(default_factory=list)
    # What the examples exercised, once settled: acknowledged calls per kind, offline holds ...
    covered: Counter[str] = field(default_factory=Counter)


class Promises:
    def __init__(self, report: Report | None) -> None:
        self._report = report
        self._pending: list[tuple[str, str, str]] = []
        self._seen: set[str] = set()
        # The example's steps so far, kept with each collected violation.
        self.trail: list[str] = []

    def broke(self, key: str, message: str) -> None:
        where = sys._getframe(1).f_code.co_name
        self._pending.append((key, where, f"[{key}] {PROMISES[key]}: {message}"))

    def flush(self) -> None:
        """End of a step: raise what broke (or, collecting, count each distinct one once)."""
        pending, self._pending = self._pending, []
        fresh = [(k, w, m) for k, w, m in pending if m not in self._seen]
        self._seen.update(m for *_, m in fresh)
        if not fresh:
            return
        if self._report is not None:
            steps = "\n".join(self.trail)
            self._report.violations.extend(f"{m}\n  after:\n{steps}" for *_, m in fresh)
            return
        key, where, _ = fresh[0]
        raise broken(key, where)("\n".join(m for *_, m in fresh))

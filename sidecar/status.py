"""What the sidecar can say about itself: connectivity, the outbox (depth, oldest age, items
needing attention), how old its earning rules are, and whether it is ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import __version__
from .connectivity import Connectivity
from .delivery import Alarm
from .metrics import Metrics
from .outbox import STRUGGLING_ATTEMPTS, Outbox, Totals
from .pacing import Pacer
from .replay import Replayer
from .rules import RulesBook
from .storage import Storage
from .timefmt import iso_ms


class Status:
    def __init__(
        self,
        *,
        connectivity: Connectivity,
        rules: RulesBook,
        outbox: Outbox,
        storage: Storage,
        replayer: Replayer,
        alarm: Alarm,
        pacer: Pacer,
        store: dict[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connectivity = connectivity
        self._rules = rules
        self._outbox = outbox
        self._storage = storage
        self._replayer = replayer
        self._alarm = alarm
        self._pacer = pacer
        self._store = store
        self._clock = clock
        self._started = clock()
        self.accepting = False

    async def snapshot(self) -> dict[str, Any]:
        c = self._connectivity
        now = self._clock()
        totals = await self._outbox.totals()
        oldest = totals.oldest_created_at
        last_sync = _latest(c.last_success_at, self._replayer.last_delivered_at)
        return {
            "version": __version__,
            "uptimeSeconds": round(now - self._started, 1),
            "store": self._store,
            "connectivity": {
                "state": c.state,
                "since": iso_ms(c.changed_at),
                "lastSuccessAt": iso_ms(c.last_success_at) if c.last_success_at else None,
                "lastFailure": c.last_failure,
                "nextProbeInSeconds": round(c.seconds_to_next_probe(), 1),
            },
            "outbox": {
                "queued": totals.open_count,
                "queuedAmount": round(totals.open_amount, 2),
                "oldestQueuedAgeSeconds": round(now - oldest, 1) if oldest else 0.0,
                "inFlight": self._replayer.in_flight,
                "deadLetters": totals.by_state.get("dead", 0),
                "redemptionFailed": totals.redemption_failed,
                "delivered": totals.by_state.get("delivered", 0),
                "discarded": totals.by_state.get("discarded", 0),
                "lastSyncAt": iso_ms(last_sync) if last_sync else None,
                "rateLimitedForSeconds": round(self._pacer.pause_remaining(), 1),
            },
            "alarm": {
                "raised": self._alarm.raised,
                "message": self._alarm.message,
                "upstreamCode": self._alarm.code,
                "since": iso_ms(self._alarm.since) if self._alarm.since else None,
            },
            "attention": self._attention(totals),
            "database": {
                "path": str(self._storage.path),
                "recoveredFrom": str(self._storage.recovered_from)
                if self._storage.recovered_from
                else None,
            },
            "earningRules": {
                "cached": self._rules.default is not None,
                "fetchedAt": iso_ms(self._rules.fetched_at) if self._rules.fetched_at else None,
            },
        }

    def _attention(self, totals: Totals) -> list[str]:
        dead, redemption_failed = totals.by_state.get("dead", 0), totals.redemption_failed
        needs: list[str] = []
        if self._replayer.problem:
            needs.append(f"{self._replayer.problem}; sales stay stored and are retried.")
        if self._alarm.raised:
            needs.append(
                "Gameball refuses the store's API keys: nothing is being sent. Fix the keys and "
                "restart the sidecar."
            )
        if dead:
            needs.append(
                f"{dead} call(s) were refused by Gameball and need a person: "
                "gameball-sidecar outbox list --state dead"
            )
        if redemption_failed:
            needs.append(
                f"{redemption_failed} payment(s) earned points but could not redeem the hold they "
                "named: reconcile with gameball-sidecar outbox export --outcome redemption_failed"
            )
        if totals.struggling and not self._connectivity.offline:
            needs.append(
                f"{totals.struggling} queued call(s) keep failing (tried {STRUGGLING_ATTEMPTS} "
                "times or more) although Gameball answers: gameball-sidecar outbox list "
                "--state pending"
            )
        if self._storage.recovered_from:
            needs.append(
                f"The database failed its integrity check and was moved to "
                f"{self._storage.recovered_from}; a fresh one is in use."
            )
        return needs

    async def update_gauges(self, metrics: Metrics) -> None:
        totals = await self._outbox.totals()
        oldest = totals.oldest_created_at
        metrics.queue_depth.set(totals.open_count)
        metrics.oldest_age.set(self._clock() - oldest if oldest else 0.0)
        metrics.dead_letters.set(totals.by_state.get("dead", 0))
        metrics.online.set(1 if self._connectivity.online else 0)  # unknown counts as not yet
        metrics.alarm.set(1 if self._alarm.raised else 0)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        # Offline is a normal way to work, so it does not make the sidecar unready.
        return self.accepting, {
            "ready": self.accepting,
            "connectivity": self._connectivity.state,
        }


def _latest(*moments: float | None) -> float | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None

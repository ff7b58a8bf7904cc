"""What the sidecar can say about itself, as one typed report shared by ``/v1/status``, the
``/status`` page, the CLI, ``/metrics`` and ``/openapi.json``: connectivity, the outbox (depth,
oldest age, what needs a person), the database, the earning rules, and whether it is ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import msgspec

from . import __version__
from .checkout.rules import RulesBook
from .delivery.alarm import Alarm
from .delivery.dispatcher import Dispatcher
from .delivery.pacing import Pacer
from .gameball.connectivity import Connectivity
from .store.database import Database
from .store.holdbook import HoldBook
from .store.outbox import STRUGGLING_ATTEMPTS, Outbox
from .store.rows import Totals
from .timefmt import iso_ms

DAY = 86400.0


class StoreIdentity(msgspec.Struct, frozen=True, kw_only=True):
    merchantId: str
    merchantName: str | None
    branchId: str
    branchName: str | None
    terminalId: str


class ConnectivityReport(msgspec.Struct, frozen=True, kw_only=True):
    state: Literal["unknown", "online", "offline"]
    since: str
    lastSuccessAt: str | None
    lastFailure: str | None
    offlineForSeconds: float
    nextProbeInSeconds: float


class OutboxReport(msgspec.Struct, frozen=True, kw_only=True):
    queued: int
    queuedAmount: float
    oldestQueuedAgeSeconds: float
    inFlight: int
    deadLetters: int
    redemptionFailed: int
    struggling: int
    delivered: int
    discarded: int
    lastSyncAt: str | None
    rateLimitedForSeconds: float


class PacingReport(msgspec.Struct, frozen=True, kw_only=True):
    """How this sidecar keeps inside the account's rate budget: ``sharedBudget`` "redis" (the
    fleet's one budget), "fallback" (Redis does not answer: the local share) or "off"."""

    sharedBudget: Literal["off", "redis", "fallback"]
    mode: Literal["aimd", "static"]
    ratePerSecond: float  # allowed now; below the ceiling after a 429
    ceilingPerSecond: float  # this sidecar's share of the account's budget
    replayHeldForSeconds: float  # the jittered start after a reconnect


class OfflineRedemptionReport(msgspec.Struct, frozen=True, kw_only=True):
    """Points spent here while Gameball was unreachable, and what failed redemptions cost."""

    enabled: bool
    outstandingPoints: float  # redeemed here, not at Gameball yet: the exposure right now
    outstandingValue: float
    spentLast24hPoints: float  # counted against max_points_per_terminal_per_day
    absorbedPoints: float  # discounted at the till, never redeemed (redemption_failed)
    absorbedValue: float


class AlarmReport(msgspec.Struct, frozen=True, kw_only=True):
    raised: bool
    message: str | None
    upstreamCode: int | None
    since: str | None


class DatabaseReport(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    recoveredFrom: str | None
    sizeBytes: int
    limitBytes: int


class RulesReport(msgspec.Struct, frozen=True, kw_only=True):
    cached: bool
    fetchedAt: str | None


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    uptimeSeconds: float
    store: StoreIdentity
    connectivity: ConnectivityReport
    outbox: OutboxReport
    pacing: PacingReport
    offlineRedemption: OfflineRedemptionReport
    alarm: AlarmReport
    attention: list[str]  # each a sentence store IT can act on; empty when all is well
    database: DatabaseReport
    earningRules: RulesReport


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    connectivity: str


class Status:
    def __init__(
        self,
        *,
        connectivity: Connectivity,
        rules: RulesBook,
        outbox: Outbox,
        database: Database,
        dispatcher: Dispatcher,
        alarm: Alarm,
        pacer: Pacer,
        store: StoreIdentity,
        book: HoldBook,
        offline_redemption: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connectivity = connectivity
        self._rules = rules
        self._outbox = outbox
        self._db = database
        self._dispatcher = dispatcher
        self._alarm = alarm
        self._pacer = pacer
        self._store = store
        self._book = book
        self._offline_redemption = offline_redemption
        self._clock = clock
        self._started = clock()
        self.accepting = False

    async def report(self) -> StatusReport:
        c = self._connectivity
        now = self._clock()
        totals = await self._outbox.totals()
        oldest = totals.oldest_created_at
        last_sync = _latest(c.last_success_at, self._dispatcher.last_delivered_at)
        outstanding = await self._book.outstanding(now)
        return StatusReport(
            version=__version__,
            uptimeSeconds=round(now - self._started, 1),
            store=self._store,
            connectivity=ConnectivityReport(
                state=c.state,
                since=iso_ms(c.changed_at),
                lastSuccessAt=iso_ms(c.last_success_at) if c.last_success_at else None,
                lastFailure=c.last_failure,
                offlineForSeconds=round(c.offline_for(), 1),
                nextProbeInSeconds=round(c.seconds_to_next_probe(), 1),
            ),
            outbox=OutboxReport(
                queued=totals.open_count,
                queuedAmount=round(totals.open_amount, 2),
                oldestQueuedAgeSeconds=round(now - oldest, 1) if oldest else 0.0,
                inFlight=self._dispatcher.in_flight,
                deadLetters=totals.by_state.get("dead", 0),
                redemptionFailed=totals.redemption_failed,
                struggling=totals.struggling,
                delivered=totals.by_state.get("delivered", 0),
                discarded=totals.by_state.get("discarded", 0),
                lastSyncAt=iso_ms(last_sync) if last_sync else None,
                rateLimitedForSeconds=round(self._pacer.pause_remaining(), 1),
            ),
            pacing=self._pacing(),
            offlineRedemption=OfflineRedemptionReport(
                enabled=self._offline_redemption,
                outstandingPoints=outstanding.points,
                outstandingValue=round(outstanding.value, 2),
                spentLast24hPoints=await self._book.spent_since(now - DAY),
                absorbedPoints=totals.absorbed_points,
                absorbedValue=round(totals.absorbed_value, 2),
            ),
            alarm=AlarmReport(
                raised=self._alarm.raised,
                message=self._alarm.message,
                upstreamCode=self._alarm.code,
                since=iso_ms(self._alarm.since) if self._alarm.since else None,
            ),
            attention=self._attention(totals),
            database=DatabaseReport(
                path=str(self._db.path),
                recoveredFrom=str(self._db.recovered_from) if self._db.recovered_from else None,
                sizeBytes=await self._db.size_bytes(),
                limitBytes=self._db.limit_bytes,
            ),
            earningRules=RulesReport(
                cached=self._rules.default is not None,
                fetchedAt=iso_ms(self._rules.fetched_at) if self._rules.fetched_at else None,
            ),
        )

    def _pacing(self) -> PacingReport:
        rate, ceiling = self._pacer.rate()
        return PacingReport(
            sharedBudget=self._pacer.shared_budget,
            mode="aimd" if self._pacer.aimd else "static",
            ratePerSecond=round(rate, 2),
            ceilingPerSecond=round(ceiling, 2),
            replayHeldForSeconds=round(self._pacer.replay_held_for(), 1),
        )

    def _attention(self, totals: Totals) -> list[str]:
        dead, redemption_failed = totals.by_state.get("dead", 0), totals.redemption_failed
        needs: list[str] = []
        if self._dispatcher.problem:
            needs.append(f"{self._dispatcher.problem}; sales stay stored and are retried.")
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
                f"{redemption_failed} sale(s) could not redeem the points the till discounted "
                f"(worth {totals.absorbed_value:.2f} in all): reconcile with gameball-sidecar "
                "outbox export --outcome redemption_failed"
            )
        if totals.struggling and not self._connectivity.offline:
            needs.append(
                f"{totals.struggling} queued call(s) keep failing (tried {STRUGGLING_ATTEMPTS} "
                "times or more) although Gameball answers: gameball-sidecar outbox list "
                "--state pending"
            )
        if self._db.recovered_from:
            needs.append(
                f"The database failed its integrity check and was moved to "
                f"{self._db.recovered_from}; a fresh one is in use."
            )
        return needs

    def readiness(self) -> Readiness:
        # Offline is a normal way to work, so it does not make the sidecar unready.
        return Readiness(ready=self.accepting, connectivity=self._connectivity.state)


def _latest(*moments: float | None) -> float | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None

"""The background drain: takes the head of each customer's queue (one call in flight per
customer, oldest first), delivers in parallel across customers up to a limit, and sleeps while
Gameball is offline, the account is rate limited, or the keys are refused."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .connectivity import Connectivity
from .delivery import Alarm, Delivery, Verdict
from .outbox import Item, Outbox
from .pacing import Pacer

log = logging.getLogger(__name__)

IDLE_TICK = 1.0


class Lanes:
    """Customers with a call to Gameball in flight; shared by replay and the finalize path so
    that two calls for one customer are never in flight together (Gameball answers 2001)."""

    def __init__(self) -> None:
        self.busy: set[str] = set()


class Replayer:
    def __init__(
        self,
        *,
        outbox: Outbox,
        delivery: Delivery,
        connectivity: Connectivity,
        pacer: Pacer,
        alarm: Alarm,
        lanes: Lanes,
        concurrency: int,
        alarm_retry: float,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._delivery = delivery
        self._connectivity = connectivity
        self._pacer = pacer
        self._alarm = alarm
        self._lanes = lanes
        self._concurrency = concurrency
        self._alarm_retry = alarm_retry
        self._clock = clock
        self._timer = timer
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_alarm_try = 0.0
        self._due_now = False
        self._stopping = False
        self.problem: str | None = None
        self.last_delivered_at: float | None = None
        connectivity.on_recovery(self.recovered)

    def wake(self) -> None:
        self._wake.set()

    def recovered(self) -> None:
        self._due_now = True
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def stop(self, grace: float) -> None:
        """Start nothing new; let calls already in flight finish for up to ``grace`` seconds,
        so their answers are recorded instead of being asked again after the restart."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            log.info("waiting up to %.0fs for %d call(s) in flight", grace, len(self._tasks))
            await asyncio.wait(set(self._tasks), timeout=grace)
        await self._cancel_all()

    async def run(self) -> None:
        try:
            while not self._stopping:
                # Cleared before looking, so a wake-up that comes while we look is not lost.
                self._wake.clear()
                try:
                    await self._pass()
                    self.problem = None
                except Exception as exc:
                    # A locked or failing disk must not end replay for good: say so, try again.
                    if self.problem is None:
                        log.exception("replay pass failed; retrying")
                    self.problem = f"replay is failing: {exc}"
                    await self._sleep(IDLE_TICK)
        finally:
            if not self._stopping:
                await self._cancel_all()

    async def _pass(self) -> None:
        if self._due_now:
            self._due_now = False
            await self._outbox.make_all_due(self._clock())
        started = await self._start_due()
        await self._sleep(IDLE_TICK if started else await self._idle_wait())

    async def _cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _start_due(self) -> int:
        slots = self._concurrency - len(self._tasks)
        if slots <= 0 or not self._may_send():
            return 0
        if self._connectivity.offline:
            slots = 1  # the probe: one call decides whether Gameball is back
        if self._alarm.raised:
            # One row at a time, now and then, to notice when the keys work again.
            if self._timer() - self._last_alarm_try < self._alarm_retry:
                return 0
            self._last_alarm_try = self._timer()
            slots = 1
        heads = await self._outbox.ready_heads(self._clock(), slots * 4 + len(self._lanes.busy))
        started = 0
        for item in heads:
            if started >= slots:
                break
            if item.customer_id in self._lanes.busy:
                continue
            if not await self._outbox.claim(item.id, self._clock()):
                continue
            self._lanes.busy.add(item.customer_id)
            task = asyncio.get_running_loop().create_task(self._deliver(item))
            self._tasks.add(task)
            started += 1
        return started

    async def _deliver(self, item: Item) -> None:
        verdict: Verdict = "retry"
        try:
            verdict = await self._delivery.deliver(item)
            if verdict == "delivered":
                self.last_delivered_at = self._clock()
        except Exception:
            log.exception("delivering outbox item %d failed unexpectedly", item.id)
            await self._delivery.requeue_after_crash(item)
        finally:
            self._lanes.busy.discard(item.customer_id)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            self._wake.set()

    def _may_send(self) -> bool:
        return (not self._connectivity.offline or self._connectivity.probe_due()) and not (
            self._pacer.paused
        )

    async def _idle_wait(self) -> float:
        if len(self._tasks) >= self._concurrency:
            return IDLE_TICK * 5  # a finishing delivery wakes us
        if self._pacer.paused:
            return self._pacer.pause_remaining()
        if self._connectivity.offline:
            return max(0.05, min(IDLE_TICK, self._connectivity.seconds_to_next_probe()))
        if self._alarm.raised:
            return max(0.05, self._alarm_retry - (self._timer() - self._last_alarm_try))
        due = await self._outbox.next_due()
        if due is None:
            return IDLE_TICK * 5
        return max(0.01, min(IDLE_TICK * 5, due - self._clock()))

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

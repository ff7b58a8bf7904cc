"""The one place that decides when a call may go to Gameball: one call in flight per customer
(Gameball answers 2001 to overlapping ones), nothing while offline, rate limited or mis-keyed
(but the probes). A new row is stored first, then delivered at once when it may be; the replay
loop takes the head of each customer's queue, oldest first, in parallel across customers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiojobs

from ..errors import StorageError
from ..gameball.connectivity import Connectivity
from ..store.outbox import Outbox
from ..store.rows import Check, Item, NewItem, Stored
from .alarm import Alarm
from .pacing import Pacer
from .sender import Sender

log = logging.getLogger(__name__)

IDLE_TICK = 1.0
# A cashier's call waits out a rate pause that ends within this part of its budget: queued,
# it was answered 202 for a sale the next second could carry, and left the other half of its
# budget for Gameball's answer.
PAUSE_WAITED_OUT = 0.5


class Dispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
        sender: Sender,
        connectivity: Connectivity,
        pacer: Pacer,
        alarm: Alarm,
        scheduler: aiojobs.Scheduler,
        concurrency: int,
        alarm_retry: float,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._sender = sender
        self._connectivity = connectivity
        self._pacer = pacer
        self._alarm = alarm
        self._scheduler = scheduler
        self._concurrency = concurrency
        self._alarm_retry = alarm_retry
        self._clock = clock
        self._timer = timer
        # Customers with a call to Gameball in flight, from replay or from a till.
        self._busy: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flights: dict[int, asyncio.Event] = {}
        self._last_alarm_try = 0.0
        self._due_now = False
        self._stopping = False
        self.problem: str | None = None
        self.last_delivered_at: float | None = None
        self._on_delivered: list[Callable[[str], Awaitable[None]]] = []
        connectivity.on_recovery(self.recovered)

    def on_delivered(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Await ``listener(customer_id)`` whenever a call of that customer reached Gameball
        (it must be quick: the customer's lane waits for it)."""
        self._on_delivered.append(listener)

    def may_send_now(self, customer_id: str, *, budget: float | None = None) -> bool:
        """May a new call for this customer go to Gameball now? ``budget``: the seconds a
        cashier still waits, for which a rate pause about to end does not queue the call."""
        paused = self._pacer.paused and (
            budget is None or self._pacer.pause_remaining() > PAUSE_WAITED_OUT * budget
        )
        return not (
            self._connectivity.offline or self._alarm.raised or paused or customer_id in self._busy
        )

    async def submit(
        self, new: NewItem, *, check: Check | None, budget: float | None, started: float
    ) -> Stored:
        """Store the row (``check`` may refuse it), then deliver it at once if it may go,
        waiting for Gameball's answer until ``budget`` seconds after ``started`` (None: not at
        all, for work nobody waits on). Returns the row as it stands then: delivered, or still
        queued for replay."""
        left = None if budget is None else budget - (self._timer() - started)
        stored = await self._outbox.enqueue(
            new,
            now=self._clock(),
            check=check,
            claim=self.may_send_now(new.customer_id, budget=left),
        )
        if not stored.created or not stored.claimed:
            self.wake()
            if not stored.created and budget is not None:
                return await self._after_flight(stored, budget, started)
            return stored
        item = stored.item
        self._busy.add(item.customer_id)
        if budget is None:
            await self._scheduler.spawn(self._flight(item))
            return stored
        delivery = self._scheduler.shield(self._flight(item, live=True))
        try:
            await asyncio.wait_for(delivery, timeout=max(0.0, budget - (self._timer() - started)))
        except TimeoutError:
            # The call goes on and its answer is recorded on the row. A Gameball this slow
            # counts as unreachable so the next sales queue without waiting, but only if the
            # call was really out there (not just waiting its turn under the rate limit).
            if self._sender.on_the_wire(item.id):
                self._connectivity.record_failure("no answer within the finalize budget")
        try:
            latest = await self._outbox.get(item.id)
        except StorageError:
            latest = None  # stored already: "queued" is true, whatever happens next
        return Stored(item=latest or item, created=True, claimed=True)

    async def _after_flight(self, stored: Stored, budget: float, started: float) -> Stored:
        """A resend of a row on its way to Gameball right now (a double click) waits for that
        answer within its own budget, so both sends are told the same outcome."""
        landed = self._flights.get(stored.item.id)
        if landed is None:
            return stored
        try:
            async with asyncio.timeout(max(0.0, budget - (self._timer() - started))):
                await landed.wait()
            latest = await self._outbox.get(stored.item.id)
        except (TimeoutError, StorageError):
            return stored
        return Stored(item=latest or stored.item, created=False, claimed=False)

    def wake(self) -> None:
        self._wake.set()

    def recovered(self) -> None:
        self._pacer.reconnected()  # replay starts after a random delay, live calls at once
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
        if slots <= 0 or not self._replay_may_send():
            return 0
        if self._connectivity.offline:
            slots = 1  # the probe: one call decides whether Gameball is back
        if self._alarm.raised:
            # One row at a time, now and then, to notice when the keys work again.
            if self._timer() - self._last_alarm_try < self._alarm_retry:
                return 0
            self._last_alarm_try = self._timer()
            slots = 1
        heads = await self._outbox.ready_heads(self._clock(), slots * 4 + len(self._busy))
        started = 0
        for item in heads:
            if started >= slots:
                break
            if item.customer_id in self._busy:
                continue
            if not await self._outbox.claim(item.id, self._clock()):
                continue
            self._busy.add(item.customer_id)
            task = asyncio.get_running_loop().create_task(self._flight(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    def _flight(self, item: Item, *, live: bool = False) -> Coroutine[Any, Any, None]:
        """The delivery of a claimed row, known as in flight from now (not only once the
        coroutine starts), so a resend arriving meanwhile waits for its answer."""
        landed = self._flights[item.id] = asyncio.Event()
        return self._deliver(item, landed, live)

    async def _tell_delivered(self, customer_id: str) -> None:
        for listener in self._on_delivered:
            try:
                await listener(customer_id)
            except Exception:  # the row is delivered whatever a listener does
                log.exception("a listener of deliveries failed")

    async def _deliver(self, item: Item, landed: asyncio.Event, live: bool) -> None:
        """Send one claimed row, from replay or a till (``live``: before replay), and free its
        customer's lane after."""
        try:
            verdict = await self._sender.deliver(item, live=live)
            if verdict == "delivered":
                self.last_delivered_at = self._clock()
                await self._tell_delivered(item.customer_id)
        except Exception:
            log.exception("delivering outbox item %d failed unexpectedly", item.id)
            await self._sender.requeue_after_crash(item)
        finally:
            self._busy.discard(item.customer_id)
            if self._flights.get(item.id) is landed:
                del self._flights[item.id]
            landed.set()
            self._wake.set()

    def _replay_may_send(self) -> bool:
        return (not self._connectivity.offline or self._connectivity.probe_due()) and not (
            self._pacer.paused or self._pacer.replay_held_for() > 0
        )

    async def _idle_wait(self) -> float:
        if len(self._tasks) >= self._concurrency:
            return IDLE_TICK * 5  # a finishing delivery wakes us
        if self._pacer.paused or self._pacer.replay_held_for() > 0:
            return max(self._pacer.pause_remaining(), self._pacer.replay_held_for())
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

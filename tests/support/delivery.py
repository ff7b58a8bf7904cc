"""The delivery side assembled by hand from real parts, for component tests: an UpstreamClient
on the simulator, the outbox and hold book of a real database, the pacer, the alarm and a
Sender, all on one fake time; and a Dispatcher over them when a test wants the lanes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import aiojobs

from sidecar.checkout.renewal import HoldRenewal
from sidecar.delivery.alarm import Alarm
from sidecar.delivery.dispatcher import Dispatcher
from sidecar.delivery.pacing import Pacer
from sidecar.delivery.sender import Sender
from sidecar.gameball.client import UpstreamClient
from sidecar.gameball.connectivity import Connectivity
from sidecar.simulator import SimulatorServer
from sidecar.store.database import Database
from sidecar.store.holdbook import HoldBook
from sidecar.store.outbox import Outbox
from sidecar.store.rows import Item, NewItem
from sidecar.timefmt import TransactionClock

from .clients import API_KEY, SECRET_KEY
from .clocks import FakeTime

RETRY_BASE = 2.0
RETRY_CAP = 60.0
REFUND_WAIT_ATTEMPTS = 3
FAILURE_THRESHOLD = 3


@dataclass
class Parts:
    """A Sender and the real parts it works with."""

    upstream: UpstreamClient
    connectivity: Connectivity
    outbox: Outbox
    book: HoldBook
    pacer: Pacer
    alarm: Alarm
    sender: Sender
    time: FakeTime

    async def claimed(self, new: NewItem) -> Item:
        """Store the row and claim it, as the dispatcher does before it sends."""
        stored = await self.outbox.enqueue(new, now=self.time.clock(), claim=True)
        assert stored.claimed, stored
        return stored.item

    async def queued(self, new: NewItem) -> Item:
        """Store the row for replay, unclaimed."""
        stored = await self.outbox.enqueue(new, now=self.time.clock(), claim=False)
        assert stored.created, stored
        return stored.item

    async def again(self, item: Item) -> Item:
        """Claim the row once more, as replay does when it comes due."""
        assert await self.outbox.claim(item.id, self.time.clock())
        return await self.row(item)

    async def row(self, item: Item) -> Item:
        found = await self.outbox.get(item.id)
        assert found is not None
        return found

    def go_offline(self) -> None:
        for _ in range(FAILURE_THRESHOLD):
            self.connectivity.record_failure("connection refused")
        assert self.connectivity.offline


@asynccontextmanager
async def delivery_parts(
    simulator: SimulatorServer, database: Database, fake_time: FakeTime, *, pacing: bool = True
) -> AsyncIterator[Parts]:
    async with aiohttp.ClientSession() as session:
        connectivity = Connectivity(
            failure_threshold=FAILURE_THRESHOLD,
            probe_initial=1.0,
            probe_max=1.0,
            timer=fake_time.timer,
            clock=fake_time.clock,
        )
        upstream = UpstreamClient(
            session,
            base_url=simulator.base_url,
            api_key=API_KEY,
            secret_key=SECRET_KEY,
            timeout=5.0,
            connectivity=connectivity,
        )
        outbox = Outbox(database)
        book = HoldBook(database)
        pacer = Pacer(
            windows=[(30, 1.0)], enabled=pacing, timer=fake_time.timer, sleep=fake_time.sleep
        )
        alarm = Alarm(fake_time.clock)
        sender = Sender(
            outbox=outbox,
            upstream=upstream,
            pacer=pacer,
            alarm=alarm,
            holds=HoldRenewal(
                book=book,
                upstream=upstream,
                pacer=pacer,
                transaction_clock=TransactionClock(fake_time.clock),
                rehold_expired=True,
            ),
            retry_base=RETRY_BASE,
            retry_cap=RETRY_CAP,
            refund_wait_attempts=REFUND_WAIT_ATTEMPTS,
            clock=fake_time.clock,
            jitter=lambda ceiling: ceiling,  # the backoff's ceiling itself: predictable
        )
        yield Parts(upstream, connectivity, outbox, book, pacer, alarm, sender, fake_time)


@asynccontextmanager
async def dispatcher_over(parts: Parts, *, concurrency: int = 4) -> AsyncIterator[Dispatcher]:
    """A Dispatcher over ``parts``, its scheduler closed (and its loop stopped) at the end."""
    scheduler = aiojobs.Scheduler(limit=None)
    dispatcher = Dispatcher(
        outbox=parts.outbox,
        sender=parts.sender,
        connectivity=parts.connectivity,
        pacer=parts.pacer,
        alarm=parts.alarm,
        scheduler=scheduler,
        concurrency=concurrency,
        alarm_retry=30.0,
        clock=parts.time.clock,
        timer=parts.time.timer,
    )
    try:
        yield dispatcher
    finally:
        await dispatcher.stop(grace=1.0)
        await scheduler.wait_and_close(1.0)


async def find_the_window_full(pacer: Pacer, fake_time: FakeTime) -> None:
    """20 replay calls accepted, then a 429, and the first call after the pause refused too:
    with AIMD the pacer takes Gameball's 30-s window for full (the self-clock)."""
    for _ in range(20):
        await pacer.acquire()
        fake_time.advance(0.5)
    await pacer.acquire()
    pacer.rate_limited()
    fake_time.advance(1.0)
    await pacer.acquire()
    pacer.rate_limited()

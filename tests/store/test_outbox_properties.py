"""Properties of the outbox over generated steps: it hands each customer's rows to a replayer
one at a time, in the order they were queued, whatever is claimed, retried or delivered."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.store.database import Database
from sidecar.store.outbox import Outbox
from sidecar.store.rows import NewItem

# --- replay ordering ------------------------------------------------------------------------


@dataclass(frozen=True)
class Enqueue:
    customer: int
    claim: bool


@dataclass(frozen=True)
class TakeHeads:
    limit: int


@dataclass(frozen=True)
class Finish:
    pick: int
    deliver: bool
    delay: float


@dataclass(frozen=True)
class Tick:
    seconds: float


Action = Enqueue | TakeHeads | Finish | Tick


actions = st.lists(
    st.one_of(
        st.builds(Enqueue, st.integers(0, 3), st.booleans()),
        st.builds(TakeHeads, st.integers(1, 6)),
        st.builds(Finish, st.integers(0, 20), st.booleans(), st.floats(0, 10)),
        st.builds(Tick, st.floats(0, 5)),
    ),
    min_size=1,
    max_size=40,
)


@dataclass
class Replay:
    """A replayer driven by the generated actions, with what it has seen so far."""

    outbox: Outbox
    now: float = 1_800_000_000.0
    queued: dict[str, list[int]] = field(default_factory=dict)
    delivered: dict[str, list[int]] = field(default_factory=dict)
    inflight: dict[int, str] = field(default_factory=dict)
    sequence: int = 0

    async def enqueue(self, customer: str, *, claim: bool) -> None:
        self.sequence += 1
        item = NewItem(
            kind="payment",
            idem_key=f"payment:{self.sequence}",
            fingerprint=self.sequence.to_bytes(8, "big"),
            customer_id=customer,
            body=b"{}",
            amount=1.0,
        )
        stored = await self.outbox.enqueue(item, now=self.now, claim=claim)
        assert stored.created
        self.queued.setdefault(customer, []).append(stored.item.id)
        if stored.claimed:
            self.inflight[stored.item.id] = customer

    async def take_heads(self, limit: int) -> None:
        for head in await self.outbox.ready_heads(self.now, limit):
            assert head.customer_id not in self.inflight.values(), head
            assert head.id == self.oldest_undelivered(head.customer_id), head
            assert await self.outbox.claim(head.id, self.now)
            self.inflight[head.id] = head.customer_id

    async def finish(self, item_id: int, *, deliver: bool, delay: float) -> None:
        customer = self.inflight.pop(item_id)
        if deliver:
            item = await self.outbox.get(item_id)
            assert item is not None
            await self.outbox.delivered(item, outcome="ok", result=None, now=self.now)
            self.delivered.setdefault(customer, []).append(item_id)
        else:
            await self.outbox.retry_later(
                item_id, at=self.now + delay, error="x", code=None, now=self.now
            )

    def oldest_undelivered(self, customer: str) -> int:
        done = set(self.delivered.get(customer, []))
        return min(i for i in self.queued[customer] if i not in done)

    async def assert_one_inflight_per_customer(self) -> None:
        rows = await self.outbox.listing(states=["inflight"], limit=10_000)
        per_customer = Counter(row.customer_id for row in rows)
        assert all(n == 1 for n in per_customer.values()), per_customer
        assert {row.id for row in rows} == set(self.inflight)

    async def drain(self) -> None:
        for _ in range(1000):
            for item_id in sorted(self.inflight):
                await self.finish(item_id, deliver=True, delay=0)
            self.now += 60
            await self.take_heads(100)
            await self.assert_one_inflight_per_customer()
            if not self.inflight:
                return
        raise AssertionError("the outbox never drained")


async def replay(steps: list[Action], data_dir: Path) -> Replay:
    storage = await Database.open(data_dir)
    try:
        state = Replay(Outbox(storage))
        for step in steps:
            if isinstance(step, Enqueue):
                await state.enqueue(f"cust-{step.customer}", claim=step.claim)
            elif isinstance(step, TakeHeads):
                await state.take_heads(step.limit)
            elif isinstance(step, Finish) and state.inflight:
                chosen = sorted(state.inflight)[step.pick % len(state.inflight)]
                await state.finish(chosen, deliver=step.deliver, delay=step.delay)
            elif isinstance(step, Tick):
                state.now += step.seconds
            await state.assert_one_inflight_per_customer()
        await state.drain()
        return state
    finally:
        await storage.close()


@settings(max_examples=50, deadline=None, database=None)
@given(steps=actions)
def test_outbox_replay_keeps_each_customers_order(
    steps: list[Action], tmp_path_factory: pytest.TempPathFactory
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp:
        state = asyncio.run(replay(steps, Path(tmp)))

    assert state.delivered == state.queued

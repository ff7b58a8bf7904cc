"""The Dispatcher over real parts, without the app: ``submit`` stores first and delivers at once
only when a call may go (online, no alarm, no 429 pause, nothing of the customer in flight),
replay takes one call per customer at a time in each customer's order, and a refund waiting
for its payment holds up nothing. Wall time is fake; calls go to the real simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest

from sidecar.delivery.dispatcher import Dispatcher
from sidecar.simulator import SimulatorServer
from sidecar.store.database import Database
from sidecar.store.rows import Stored
from tests.support.clients import GameballClient, payments_in_ledger
from tests.support.clocks import FakeTime
from tests.support.delivery import RETRY_BASE, Parts, delivery_parts, dispatcher_over
from tests.support.rows import payment_row, refund_row
from tests.support.waits import wait_until

PAYMENTS = "/integrations/payments"


@pytest.fixture
async def parts(
    simulator: SimulatorServer, database: Database, fake_time: FakeTime
) -> AsyncIterator[Parts]:
    async with delivery_parts(simulator, database, fake_time) as assembled:
        yield assembled


@pytest.fixture
async def dispatcher(parts: Parts) -> AsyncIterator[Dispatcher]:
    async with dispatcher_over(parts) as made:
        yield made


@pytest.fixture
async def replaying(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    """The dispatcher with its replay loop running."""
    loop = asyncio.get_running_loop().create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        await dispatcher.stop(grace=1.0)
        await loop


def payments_sent(simulator: SimulatorServer) -> list[dict[str, object]]:
    return [r for r in simulator.sim.requests if r["path"].endswith(PAYMENTS)]


async def submit(dispatcher: Dispatcher, parts: Parts, payment_id: str, customer: str) -> Stored:
    return await dispatcher.submit(
        payment_row(payment_id, parts.time.wall, customer),
        check=None,
        budget=5.0,
        started=parts.time.timer(),
    )


async def test_dispatcher_submit_delivers_at_once_when_the_call_may_go(
    dispatcher: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    stored = await submit(dispatcher, parts, "p-now", "cust-1001")

    assert stored.created and stored.claimed
    assert stored.item.state == "delivered" and stored.item.outcome == "ok"
    assert payments_in_ledger(simulator, "cust-1001") == ["p-now"]
    assert dispatcher.last_delivered_at == parts.time.wall


def offline(parts: Parts) -> None:
    parts.go_offline()


def alarmed(parts: Parts) -> None:
    parts.alarm.raise_("Gameball refused the store's keys", 1000)


def rate_limited(parts: Parts) -> None:
    parts.pacer.rate_limited()


@pytest.mark.parametrize("because", [offline, alarmed, rate_limited])
async def test_dispatcher_submit_only_stores_when_no_call_may_go(
    dispatcher: Dispatcher,
    parts: Parts,
    simulator: SimulatorServer,
    because: Callable[[Parts], None],
) -> None:
    because(parts)

    stored = await submit(dispatcher, parts, "p-later", "cust-1001")

    assert stored.created and not stored.claimed
    assert stored.item.state == "pending"
    assert payments_sent(simulator) == []


async def test_dispatcher_submit_waits_out_a_rate_pause_that_ends_within_its_budget(
    dispatcher: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    """A pause with a second left, and a cashier with five: queued, the sale was answered 202
    and replayed later, when the next second could carry it."""
    parts.pacer.rate_limited()
    parts.time.advance(29.0)

    stored = await submit(dispatcher, parts, "p-after-the-pause", "cust-1001")

    assert stored.claimed and stored.item.state == "delivered", stored
    assert payments_in_ledger(simulator, "cust-1001") == ["p-after-the-pause"]


async def test_dispatcher_submit_queues_behind_the_customers_call_in_flight(
    replaying: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("slow", delay_seconds=0.3, paths=[PAYMENTS], count=1)
    first = await parts.queued(payment_row("p-first", parts.time.wall, "cust-1001"))
    replaying.wake()
    await wait_until(lambda: parts.sender.on_the_wire(first.id))

    second = await submit(replaying, parts, "p-second", "cust-1001")
    other = await submit(replaying, parts, "p-other", "cust-2002")
    await wait_until(lambda: len(payments_in_ledger(simulator)) == 3)

    assert not second.claimed and second.item.state == "pending"
    assert other.claimed and other.item.state == "delivered"  # another lane: not held up
    assert payments_in_ledger(simulator, "cust-1001") == ["p-first", "p-second"]
    assert all(r["status"] == 200 for r in payments_sent(simulator))  # no 2001, no overlap


async def test_dispatcher_double_click_is_told_what_the_first_click_is_told(
    dispatcher: Dispatcher,
    parts: Parts,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    # Gameball refuses the sale (another till took its id), slowly: the second click comes
    # while the first is still out there.
    taken = payment_row("p-twice", parts.time.wall - 60, "cust-2002")
    await simulator_client.post(PAYMENTS, msgspec.json.decode(taken.body))
    simulator.sim.set_fault("slow", delay_seconds=0.2, paths=[PAYMENTS], count=1)

    first, second = await asyncio.gather(
        submit(dispatcher, parts, "p-twice", "cust-1001"),
        submit(dispatcher, parts, "p-twice", "cust-1001"),
    )

    assert first.created != second.created and first.item.id == second.item.id  # one row
    assert (first.item.state, second.item.state) == ("dead", "dead")  # never "queued"


async def test_dispatcher_submit_without_a_budget_delivers_in_the_background(
    dispatcher: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    stored = await dispatcher.submit(
        payment_row("p-background", parts.time.wall, "cust-1001"),
        check=None,
        budget=None,
        started=parts.time.timer(),
    )
    await wait_until(lambda: row_delivered(parts, stored))

    assert stored.claimed and stored.item.state == "inflight"  # answered before Gameball
    assert payments_in_ledger(simulator) == ["p-background"]


async def test_dispatcher_answer_past_the_budget_is_queued_and_recorded_when_it_comes(
    dispatcher: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("slow", delay_seconds=0.3, paths=[PAYMENTS], count=1)

    stored = await dispatcher.submit(
        payment_row("p-slow", parts.time.wall, "cust-1001"),
        check=None,
        budget=0.05,
        started=parts.time.timer(),
    )
    counted = parts.connectivity.last_failure
    await wait_until(lambda: row_delivered(parts, stored))

    assert stored.claimed and stored.item.state == "inflight"
    assert counted == "no answer within the finalize budget"  # Gameball this slow is down
    assert payments_in_ledger(simulator) == ["p-slow"]


async def row_delivered(parts: Parts, stored: Stored) -> bool:
    return (await parts.row(stored.item)).state == "delivered"


async def test_dispatcher_replay_sends_one_call_per_customer_in_each_customers_order(
    simulator: SimulatorServer, database: Database, fake_time: FakeTime
) -> None:
    # Gameball answers 2001 to a call for a customer whose last call is still being processed.
    simulator.sim.latency_seconds = 0.02
    async with (
        delivery_parts(simulator, database, fake_time, pacing=False) as parts,
        dispatcher_over(parts, concurrency=8) as dispatcher,
    ):
        customers = ["cust-1001", "cust-2002", "cust-3003"]
        queued = {c: [f"{c}-p{n}" for n in range(6)] for c in customers}
        for n in range(6):
            for customer in customers:
                at = parts.time.wall + n
                await parts.queued(payment_row(queued[customer][n], at, customer))

        loop = asyncio.get_running_loop().create_task(dispatcher.run())
        await wait_until(lambda: len(payments_in_ledger(simulator)) == 18, within=10)
        await dispatcher.stop(grace=1.0)
        await loop

    assert {c: payments_in_ledger(simulator, c) for c in customers} == queued
    assert all(r["status"] == 200 for r in payments_sent(simulator))  # never two at once


async def test_dispatcher_refund_waiting_for_its_payment_holds_up_nothing_of_its_customer(
    replaying: Dispatcher,
    parts: Parts,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    """The payment was finalized on another till and has not reached Gameball yet: the refund
    meets 9005 and steps aside; the customer's next sale goes; the refund follows later."""
    at = parts.time.wall
    refund = await parts.queued(refund_row("r-other-till", "p-other-till", at, "cust-1001"))
    later_sale = await parts.queued(payment_row("p-next", at + 1, "cust-1001"))
    replaying.wake()
    await wait_until(lambda: payments_in_ledger(simulator, "cust-1001") == ["p-next"])
    waiting = await parts.row(refund)

    elsewhere = payment_row("p-other-till", at - 60, "cust-1001")
    await simulator_client.post(PAYMENTS, msgspec.json.decode(elsewhere.body))
    parts.time.advance(RETRY_BASE * 2)
    replaying.wake()
    await wait_until(lambda: row_state(parts, refund.id, "delivered"))

    assert waiting.state == "pending" and waiting.blocking == 0 and waiting.last_code == 9005
    assert (await parts.row(later_sale)).state == "delivered"
    kinds = [(e["transactionId"], e["type"]) for e in simulator.sim.ledger("cust-1001")]
    assert kinds.index(("p-next", "PaymentReward")) < kinds.index(("r-other-till", "Cancel"))


async def row_state(parts: Parts, item_id: int, state: str) -> bool:
    row = await parts.outbox.get(item_id)
    return row is not None and row.state == state


async def test_dispatcher_offline_replay_waits_for_the_probe_then_sends_everything(
    replaying: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    parts.go_offline()
    for n in range(3):
        await parts.queued(payment_row(f"p-probe-{n}", parts.time.wall + n, f"c-{n}"))

    parts.time.advance(1.0)  # the probe's turn
    replaying.wake()
    await wait_until(lambda: len(payments_in_ledger(simulator)) == 3)

    assert parts.connectivity.online


async def test_dispatcher_stop_lets_the_call_in_flight_record_its_answer(
    replaying: Dispatcher, parts: Parts, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("slow", delay_seconds=0.2, paths=[PAYMENTS], count=1)
    item = await parts.queued(payment_row("p-at-stop", parts.time.wall, "cust-1001"))
    replaying.wake()
    await wait_until(lambda: parts.sender.on_the_wire(item.id))

    await replaying.stop(grace=2.0)

    row = await parts.row(item)
    assert row.state == "delivered" and row.outcome == "ok"  # no resend, no 9004 later

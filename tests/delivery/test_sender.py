"""The Sender, driven directly (no app, no HTTP in front): one outbox row of a real SQLite file
sent to the real simulator, and what its answer means recorded on the row, by the meaning
``gameball/codes.py`` gives each code. Time is fake; nothing waits for real."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from sidecar.delivery.sender import RETIME_ATTEMPTS
from sidecar.gameball import ledger
from sidecar.gameball.codes import Code, Meaning
from sidecar.simulator import SimulatorServer
from sidecar.simulator.errors import STATUS_BY_CODE
from sidecar.store.database import Database
from sidecar.store.rows import NewItem
from sidecar.timefmt import iso_ms
from tests.support.clients import GameballClient, payments_in_ledger
from tests.support.clocks import FakeTime
from tests.support.delivery import REFUND_WAIT_ATTEMPTS, RETRY_BASE, Parts, delivery_parts
from tests.support.rows import payment_row, refund_row, release_row

PAYMENTS = "/integrations/payments"


@pytest.fixture
async def sending(
    simulator: SimulatorServer, database: Database, fake_time: FakeTime
) -> AsyncIterator[Parts]:
    async with delivery_parts(simulator, database, fake_time) as parts:
        yield parts


def gameball_answers(simulator: SimulatorServer, code: int, *, count: int | None = 1) -> None:
    """Gameball answers payments with ``code``, with the HTTP status it pairs with it."""
    simulator.sim.set_fault(
        "gameball_error",
        status=STATUS_BY_CODE[code],
        code=code,
        paths=[PAYMENTS],
        count=count,
    )


async def test_sender_delivered_records_gameballs_answer_and_clears_the_alarm(
    sending: Parts, simulator: SimulatorServer
) -> None:
    sending.alarm.raise_("keys refused", 1000)
    item = await sending.claimed(payment_row("p-ok", sending.time.wall, paid=42))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "delivered"
    assert row.state == "delivered" and row.outcome == "ok" and row.attempts == 1
    assert msgspec.json.decode(row.result or b"") == {"rewardedPoints": 42, "redeemedPoints": 0}
    assert not sending.alarm.raised
    assert payments_in_ledger(simulator, "cust-1001") == ["p-ok"]


# What each meaning makes of a first send of a plain payment (no hold, nothing it waits for).
FIRST_SEND = {
    Meaning.ALARM: ("alarm", "pending"),
    Meaning.RETRY: ("retry", "pending"),
    Meaning.RETIME: ("retry", "pending"),
    Meaning.ALREADY: ("dead", "dead"),  # not sent before: another call took the id
    Meaning.WAIT: ("dead", "dead"),  # a payment waits for nothing
    Meaning.HOLD_GONE: ("dead", "dead"),  # it burns no hold
    Meaning.LOCK_GONE: ("dead", "dead"),  # it uses no coupon lock
    Meaning.DECLINE: ("dead", "dead"),
    Meaning.DEAD: ("dead", "dead"),
}


@pytest.mark.parametrize("code", list(Code), ids=[code.name for code in Code])
async def test_sender_classifies_each_gameball_code_by_its_meaning(
    sending: Parts, simulator: SimulatorServer, code: Code
) -> None:
    gameball_answers(simulator, code)
    item = await sending.claimed(payment_row(f"p-{code.value}", sending.time.wall))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert (verdict, row.state) == FIRST_SEND[code.meaning]
    assert row.last_code == code
    if code.meaning == Meaning.ALARM:
        assert sending.alarm.raised and sending.alarm.code == code
        assert row.attempts == 0 and row.next_attempt_at == sending.time.wall  # not its fault
    elif code.meaning == Meaning.RETRY:
        assert row.attempts == 1 and row.next_attempt_at == sending.time.wall + RETRY_BASE
        assert bool(row.uncertain) == (code >= 5000)  # a 5xx may have been applied
    elif code.meaning == Meaning.RETIME:
        assert item.tx_ms is not None and row.tx_ms == item.tx_ms + 1
        assert msgspec.json.decode(row.body)["paymentDate"] == iso_ms((item.tx_ms + 1) / 1000)
        assert row.next_attempt_at == sending.time.wall  # at once, at the next millisecond
    else:
        assert row.last_error and not sending.alarm.raised
    assert payments_in_ledger(simulator) == []


async def test_sender_unknown_code_is_a_dead_letter_for_a_person(
    sending: Parts, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("gameball_error", status=422, code=4242, paths=[PAYMENTS], count=1)
    item = await sending.claimed(payment_row("p-unknown", sending.time.wall))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "dead" and row.state == "dead" and row.last_code == 4242


async def test_sender_429_pauses_everyone_and_costs_the_row_no_attempt(
    sending: Parts, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("ratelimit", paths=[PAYMENTS], count=1)
    item = await sending.claimed(payment_row("p-429", sending.time.wall))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "paused" and sending.pacer.paused
    assert row.state == "pending" and row.attempts == 0 and row.last_code == 429
    assert row.next_attempt_at == sending.time.wall


async def test_sender_gameball_unreachable_is_retried_as_never_sent(
    sending: Parts, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    item = await sending.claimed(payment_row("p-down", sending.time.wall))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "retry" and row.state == "pending" and row.uncertain == 0
    assert row.next_attempt_at == sending.time.wall + RETRY_BASE


async def test_sender_backoff_doubles_with_each_attempt_up_to_the_cap(
    sending: Parts, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    item = await sending.claimed(payment_row("p-backoff", sending.time.wall))
    delays = []

    for _ in range(7):
        await sending.sender.deliver(item)
        row = await sending.row(item)
        delays.append(row.next_attempt_at - sending.time.wall)
        item = await sending.again(item)

    assert delays == [2, 4, 8, 16, 32, 60, 60]


async def test_sender_lost_answer_then_9004_counts_as_delivered(
    sending: Parts, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("drop_response", paths=[PAYMENTS], count=1)
    item = await sending.claimed(payment_row("p-lost", sending.time.wall))

    lost = await sending.sender.deliver(item)
    maybe = await sending.row(item)
    resent = await sending.sender.deliver(await sending.again(item))

    row = await sending.row(item)
    assert lost == "retry" and maybe.uncertain == 1  # it may have landed
    assert resent == "delivered" and row.outcome == "already" and row.last_code == 9004
    assert payments_in_ledger(simulator, "cust-1001") == ["p-lost"]  # once


async def test_sender_lost_answer_then_9004_for_another_tills_call_is_dead_not_delivered(
    sending: Parts, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    # Another till's sale took the id; our first send is refused and its answer lost.
    taken = payment_row("p-other", sending.time.wall - 60, customer="cust-2002")
    await simulator_client.post(PAYMENTS, msgspec.json.decode(taken.body))
    simulator.sim.set_fault("drop_response", paths=[PAYMENTS], count=1)
    item = await sending.claimed(payment_row("p-other", sending.time.wall))

    lost = await sending.sender.deliver(item)
    resent = await sending.sender.deliver(await sending.again(item))

    row = await sending.row(item)
    assert lost == "retry" and resent == "dead" and row.last_code == 9004
    assert row.outcome != "already"
    assert payments_in_ledger(simulator, "cust-1001") == []  # cust-1001 earned nothing


async def test_sender_refund_named_like_its_payment_is_not_taken_for_the_payment(
    sending: Parts, simulator: SimulatorServer
) -> None:
    paid = await sending.claimed(payment_row("p-same", sending.time.wall - 60))
    assert await sending.sender.deliver(paid) == "delivered"
    simulator.sim.set_fault("drop_response", paths=["/integrations/transactions/refund"], count=1)
    item = await sending.claimed(refund_row("p-same", "p-same", sending.time.wall))

    lost = await sending.sender.deliver(item)
    resent = await sending.sender.deliver(await sending.again(item))

    row = await sending.row(item)
    # The ledger has p-same as a PaymentReward, but no Cancel: the refund never landed.
    assert lost == "retry" and resent == "dead" and row.last_code == 9004


async def test_sender_id_taken_by_another_call_on_a_first_send_is_dead_not_delivered(
    sending: Parts, simulator_client: GameballClient
) -> None:
    taken = payment_row("p-taken", sending.time.wall - 60, customer="cust-2002")
    await simulator_client.post(PAYMENTS, msgspec.json.decode(taken.body))
    item = await sending.claimed(payment_row("p-taken", sending.time.wall))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "dead" and row.last_code == 9004
    assert row.last_error is not None and "did not send" in row.last_error


async def test_sender_9003_moves_the_sale_to_the_next_free_millisecond(
    sending: Parts, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    at = sending.time.wall
    other_till = payment_row("p-other-till", at)
    await simulator_client.post(PAYMENTS, msgspec.json.decode(other_till.body))
    item = await sending.claimed(payment_row("p-same-ms", at))

    first = await sending.sender.deliver(item)
    second = await sending.sender.deliver(await sending.again(item))

    row = await sending.row(item)
    assert (first, second) == ("retry", "delivered")
    times = {e["transactionId"]: e["transactionTime"] for e in simulator.sim.ledger("cust-1001")}
    assert times["p-other-till"].startswith(iso_ms(at)[:-1])
    assert times["p-same-ms"].startswith(iso_ms(at + 0.001)[:-1])
    assert row.tx_ms == int(at * 1000) + 1


async def test_sender_9003_again_and_again_is_dead_at_last(
    sending: Parts, simulator: SimulatorServer
) -> None:
    gameball_answers(simulator, Code.TIME_TAKEN, count=None)
    item = await sending.claimed(payment_row("p-always-taken", sending.time.wall))
    verdicts = []

    for _ in range(RETIME_ATTEMPTS + 1):
        verdicts.append(await sending.sender.deliver(item))
        item = await sending.row(item)
        if item.state == "pending":
            item = await sending.again(item)

    assert verdicts == ["retry"] * RETIME_ATTEMPTS + ["dead"]


async def test_sender_refund_whose_payment_is_still_queued_here_waits_without_blocking(
    sending: Parts,
) -> None:
    # The refund came first and is on its way when its payment is stored behind it.
    item = await sending.claimed(refund_row("r-early", "p-queued", sending.time.wall))
    await sending.outbox.enqueue(
        payment_row("p-queued", sending.time.wall - 1), now=sending.time.wall, claim=False
    )

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "retry" and row.state == "pending" and row.last_code == 9005
    assert row.blocking == 0  # the customer's later calls may go first
    assert row.last_error is not None and "still queued on this terminal" in row.last_error


async def test_sender_refund_of_a_payment_delivered_elsewhere_waits_a_few_tries_then_is_dead(
    sending: Parts,
) -> None:
    payment = await sending.claimed(payment_row("p-elsewhere", sending.time.wall - 1))
    # Recorded as delivered, but Gameball never had it: it keeps answering 9005.
    await sending.outbox.delivered(payment, outcome="ok", result=None, now=sending.time.wall)
    item = await sending.claimed(refund_row("r-waits", "p-elsewhere", sending.time.wall))
    verdicts = []

    for _ in range(REFUND_WAIT_ATTEMPTS):
        verdicts.append(await sending.sender.deliver(item))
        item = await sending.row(item)
        if item.state == "pending":
            item = await sending.again(item)

    assert verdicts == ["retry"] * (REFUND_WAIT_ATTEMPTS - 1) + ["dead"]
    assert item.last_code == 9005


async def test_sender_refund_of_a_refused_payment_is_dead_at_once(sending: Parts) -> None:
    payment = await sending.claimed(payment_row("p-refused", sending.time.wall - 1))
    await sending.outbox.dead(payment, error="refused", code=3003, now=sending.time.wall)
    item = await sending.claimed(refund_row("r-never", "p-refused", sending.time.wall))

    verdict = await sending.sender.deliver(item)

    assert verdict == "dead" and (await sending.row(item)).state == "dead"


async def test_sender_release_of_a_hold_gameball_no_longer_has_counts_as_released(
    sending: Parts,
) -> None:
    item = await sending.claimed(release_row("00000000-0000-0000-0000-000000000000"))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert verdict == "delivered" and row.outcome == "already" and row.last_code == 9006


async def hold_made_here(sending: Parts, client: GameballClient, checkout: str, points: int) -> str:
    """A hold of cust-1001 made at Gameball and recorded in this terminal's hold book."""
    status, held = await client.post(
        "/integrations/transactions/hold",
        {
            "customerId": "cust-1001",
            "transactionTime": iso_ms(sending.time.wall - 5),
            "pointsToHold": points,
        },
    )
    assert status == 200, held
    reference = str(held["holdReference"])
    await sending.book.add(
        hold_reference=reference,
        checkout_id=checkout,
        fingerprint=b"f",
        customer_id="cust-1001",
        hold_points=points,
        hold_amount=points / 10,
        state="active",
        expires_at=None,
        answer=b"{}",
        now=sending.time.wall,
    )
    return reference


def burning(payment_id: str, at: float, reference: str) -> NewItem:
    row = payment_row(payment_id, at, redemption={"pointsHoldReference": reference})
    return msgspec.structs.replace(row, hold_reference=reference, hold_action="burn")


async def test_sender_sale_whose_hold_expired_holds_the_points_again_and_burns_them(
    sending: Parts, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    reference = await hold_made_here(sending, simulator_client, "co-expired", 100)
    simulator.sim.advance_clock(700)  # the hold lapses at Gameball: 9006
    item = await sending.claimed(burning("p-rehold", sending.time.wall, reference))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    sent = msgspec.json.decode(row.body)
    assert verdict == "delivered" and row.outcome == "reheld"
    assert sent["redemption"]["pointsHoldReference"] == row.hold_reference != reference
    assert msgspec.json.decode(row.result or b"")["redeemedPoints"] == 100


async def test_sender_sale_whose_hold_was_made_elsewhere_and_lapsed_is_sent_earn_only(
    sending: Parts, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    status, held = await simulator_client.post(
        "/integrations/transactions/hold",
        {
            "customerId": "cust-1001",
            "transactionTime": iso_ms(sending.time.wall - 5),
            "pointsToHold": 40,
        },
    )
    simulator.sim.advance_clock(700)
    item = await sending.claimed(burning("p-earn-only", sending.time.wall, held["holdReference"]))

    verdict = await sending.sender.deliver(item)

    row = await sending.row(item)
    assert status == 200 and verdict == "delivered"
    assert row.outcome == "redemption_failed" and "not made here" in (row.note or "")
    assert "redemption" not in msgspec.json.decode(row.body)
    assert payments_in_ledger(simulator, "cust-1001") == ["p-earn-only"]


async def test_sender_each_page_of_the_ledger_it_reads_takes_a_slot_of_the_rate_budget(
    sending: Parts,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a customer's ledger to tell our lost send from another till's is one call of
    the account's budget per page (Gameball counts each): one slot for up to 25 pages left
    the pacer counting a part of what went."""
    monkeypatch.setattr(ledger, "PAGE", 2)
    for n in range(5):  # a ledger of three pages of two
        earlier = payment_row(f"p-before-{n}", sending.time.wall - 600 + n)
        await simulator_client.post(PAYMENTS, msgspec.json.decode(earlier.body))
    taken = payment_row("p-paged", sending.time.wall - 60, customer="cust-2002")
    await simulator_client.post(PAYMENTS, msgspec.json.decode(taken.body))
    simulator.sim.set_fault("drop_response", paths=[PAYMENTS], count=1)
    item = await sending.claimed(payment_row("p-paged", sending.time.wall))
    acquired = 0
    acquire = sending.pacer.acquire

    async def counted(*, live: bool = False, within: float | None = None) -> None:
        nonlocal acquired
        acquired += 1
        await acquire(live=live, within=within)

    monkeypatch.setattr(sending.pacer, "acquire", counted)
    await sending.sender.deliver(item)
    before = len(simulator.sim.requests)
    resent = await sending.sender.deliver(await sending.again(item))

    sent = simulator.sim.requests[before:]
    pages = [r for r in sent if r["method"] == "GET" and r["path"].endswith("/transactions")]
    assert resent == "dead"
    assert len(pages) >= 3
    assert acquired == 2 + len(pages)  # both sends, and every page read


async def test_sender_a_cashiers_sale_whose_hold_lapsed_asks_and_reholds_as_a_cashiers_call(
    sending: Parts,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sale a cashier waits for, whose hold lapsed: the look-up and the fresh hold go before
    replay like the sale itself, each taking its own slot when it goes (the fresh hold's was
    taken before the look-up, and the look-up waited behind the backlog)."""
    reference = await hold_made_here(sending, simulator_client, "co-live-lapsed", 100)
    simulator.sim.advance_clock(700)
    item = await sending.claimed(burning("p-live-rehold", sending.time.wall, reference))
    acquired: list[bool] = []
    acquire = sending.pacer.acquire

    async def recorded(*, live: bool = False, within: float | None = None) -> None:
        acquired.append(live)
        await acquire(live=live, within=within)

    monkeypatch.setattr(sending.pacer, "acquire", recorded)
    before = len(simulator.sim.requests)
    verdict = await sending.sender.deliver(item, live=True)

    sent = [(r["method"], r["path"]) for r in simulator.sim.requests[before:]]
    assert verdict == "delivered" and (await sending.row(item)).outcome == "reheld"
    assert [method for method, _ in sent] == ["POST", "GET", "POST", "POST"], sent
    assert acquired == [True] * len(sent)  # the sale, the look-up, the fresh hold, the sale


async def test_sender_a_429_on_a_lapsed_holds_look_up_is_told_to_the_pacer_once(
    sending: Parts,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Told twice, AIMD halved the rate twice for one 429."""
    reference = await hold_made_here(sending, simulator_client, "co-429-lapsed", 100)
    simulator.sim.advance_clock(700)
    item = await sending.claimed(burning("p-429-rehold", sending.time.wall, reference))
    simulator.sim.set_fault("ratelimit", paths=[f"/transactions/hold/{reference}"], count=1)
    told: list[float | None] = []
    monkeypatch.setattr(sending.pacer, "rate_limited", lambda after=None, **_: told.append(after))

    verdict = await sending.sender.deliver(item)

    assert verdict == "paused"
    assert len(told) == 1

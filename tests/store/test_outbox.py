"""The outbox's admission and state machine, on a real SQLite file: a resend finds its stored row,
a check sees what it must in the same step that stores (open totals, the hold named), rows of
one customer claim one at a time, event times are kept distinct, and the schema's triggers park
and free refunds and claim, burn and free holds."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from sidecar import errors
from sidecar.checkout.holdrules import may_burn, may_release, release_item
from sidecar.store.database import Database
from sidecar.store.holdbook import HoldBook, HoldState
from sidecar.store.outbox import Outbox
from sidecar.store.rows import Admission, NewItem
from tests.support.rows import new_item, payment_row, refund_row

NOW = 1_800_000_000.0


def burning(payment_id: str, reference: str, customer: str = "cust-1001") -> NewItem:
    row = payment_row(payment_id, NOW, customer, redemption={"pointsHoldReference": reference})
    return msgspec.structs.replace(row, hold_reference=reference, hold_action="burn")


async def hold_of(
    database: Database, reference: str, customer: str = "cust-1001", state: HoldState = "active"
) -> HoldBook:
    book = HoldBook(database)
    await book.add(
        hold_reference=reference,
        checkout_id=f"co-{reference}",
        fingerprint=b"f",
        customer_id=customer,
        hold_points=100,
        hold_amount=10,
        state=state,
        expires_at=None,
        answer=b"{}",
        now=NOW,
    )
    return book


async def claimed_by(book: HoldBook, reference: str) -> str | None:
    row = await book.by_reference(reference)
    assert row is not None
    return row.claimed_by


async def hold_state(book: HoldBook, reference: str) -> str:
    row = await book.by_reference(reference)
    assert row is not None
    return row.state


# --- admission ---------------------------------------------------------------------------------


async def test_outbox_resend_gets_the_stored_row_whatever_the_check_says_now(
    outbox: Outbox,
) -> None:
    first = await outbox.enqueue(new_item("p-1"), now=NOW, claim=False)

    def refuse(admission: Admission) -> None:
        raise errors.OfflineLimitReached("over the limit", code="OFFLINE_QUEUE_FULL")

    again = await outbox.enqueue(new_item("p-1"), now=NOW + 5, check=refuse, claim=True)

    assert first.created and not again.created and not again.claimed
    assert again.item.id == first.item.id and again.item.created_at == NOW


async def test_outbox_refused_by_the_check_stores_nothing(outbox: Outbox) -> None:
    def refuse(admission: Admission) -> None:
        raise errors.OfflineLimitReached("over the limit", code="OFFLINE_PAYMENT_LIMIT")

    with pytest.raises(errors.OfflineLimitReached):
        await outbox.enqueue(new_item("p-big", amount=9_000), now=NOW, check=refuse, claim=False)

    assert await outbox.listing() == []
    assert (await outbox.totals()).open_count == 0


async def test_outbox_check_sees_the_open_totals_of_pending_and_inflight_rows_only(
    outbox: Outbox,
) -> None:
    delivered = (await outbox.enqueue(new_item("p-1", "c-1", amount=5), now=NOW, claim=True)).item
    await outbox.delivered(delivered, outcome="ok", result=None, now=NOW)
    await outbox.enqueue(new_item("p-2", "c-2", amount=7), now=NOW, claim=True)  # inflight
    await outbox.enqueue(new_item("p-3", "c-3", amount=11), now=NOW, claim=False)  # pending
    seen: list[Admission] = []

    await outbox.enqueue(new_item("p-4", amount=1), now=NOW, check=seen.append, claim=False)

    (admission,) = seen
    assert (admission.open_count, admission.open_amount) == (2, 18.0)
    assert admission.hold is None and admission.new.idem_key == "payment:p-4"


async def test_outbox_limits_hold_when_many_tills_store_at_the_same_moment(
    outbox: Outbox,
) -> None:
    """Each admission reads the totals in the step that stores: none sees a stale count."""

    def at_most_three(admission: Admission) -> None:
        if admission.open_count >= 3:
            raise errors.OfflineLimitReached("full", code="OFFLINE_QUEUE_FULL")

    async def till(n: int) -> bool:
        try:
            await outbox.enqueue(
                new_item(f"p-{n}", f"c-{n}"), now=NOW, check=at_most_three, claim=False
            )
        except errors.OfflineLimitReached:
            return False
        return True

    accepted = await asyncio.gather(*(till(n) for n in range(10)))

    assert accepted.count(True) == 3
    assert (await outbox.totals()).open_count == 3


async def test_outbox_check_sees_the_hold_the_row_names(outbox: Outbox, database: Database) -> None:
    await hold_of(database, "h-1", customer="cust-2002", state="active")
    seen: list[Admission] = []

    await outbox.enqueue(burning("p-1", "h-1"), now=NOW, check=seen.append, claim=False)
    await outbox.enqueue(burning("p-2", "h-elsewhere"), now=NOW, check=seen.append, claim=False)

    made_here, made_elsewhere = seen
    assert made_here.hold is not None
    assert (made_here.hold.customer_id, made_here.hold.state) == ("cust-2002", "active")
    assert made_here.hold.claimed_by is None
    assert made_elsewhere.hold is None  # for Gameball to judge


# --- the hold rules at admission -----------------------------------------------------------------


async def test_outbox_sale_may_not_burn_another_customers_hold(
    outbox: Outbox, database: Database
) -> None:
    await hold_of(database, "h-1", customer="cust-1001")

    with pytest.raises(errors.HoldBelongsToAnotherCustomer):
        await outbox.enqueue(
            burning("p-1", "h-1", customer="cust-2002"), now=NOW, check=may_burn, claim=True
        )

    assert await outbox.listing() == []


@pytest.mark.parametrize(
    ("state", "refusal"),
    [
        ("released", errors.HoldReleased),
        ("failed", errors.HoldReleased),
        ("used", errors.HoldAlreadyUsed),
        ("redeeming", errors.HoldAlreadyUsed),
    ],
)
async def test_outbox_sale_may_not_burn_a_hold_that_is_not_active(
    outbox: Outbox, database: Database, state: HoldState, refusal: type[errors.ApiError]
) -> None:
    await hold_of(database, "h-1", state=state)

    with pytest.raises(refusal):
        await outbox.enqueue(burning("p-1", "h-1"), now=NOW, check=may_burn, claim=True)


async def test_outbox_one_hold_is_claimed_by_one_sale(outbox: Outbox, database: Database) -> None:
    book = await hold_of(database, "h-1")
    first = await outbox.enqueue(burning("p-1", "h-1"), now=NOW, check=may_burn, claim=False)

    with pytest.raises(errors.HoldAlreadyUsed) as second:
        await outbox.enqueue(burning("p-2", "h-1"), now=NOW, check=may_burn, claim=False)
    resent = await outbox.enqueue(burning("p-1", "h-1"), now=NOW, check=may_burn, claim=False)

    assert first.created and await claimed_by(book, "h-1") == "payment:p-1"
    assert "'p-1'" in str(second.value)  # names the sale that has it
    assert not resent.created and resent.item.id == first.item.id


async def test_outbox_hold_claimed_by_a_sale_is_not_released_under_it(
    outbox: Outbox, database: Database
) -> None:
    await hold_of(database, "h-1")
    await outbox.enqueue(burning("p-1", "h-1"), now=NOW, check=may_burn, claim=False)

    with pytest.raises(errors.HoldAlreadyUsed):
        await outbox.enqueue(
            release_item("h-1", "cust-1001", hold_action="release"),
            now=NOW,
            check=may_release,
            claim=False,
        )


# --- claims: one call in flight per customer, in order -----------------------------------------


async def test_outbox_claims_a_row_only_when_nothing_of_its_customer_is_in_the_way(
    outbox: Outbox,
) -> None:
    first = await outbox.enqueue(new_item("p-1", "c-1"), now=NOW, claim=True)
    behind = await outbox.enqueue(new_item("p-2", "c-1"), now=NOW, claim=True)
    other = await outbox.enqueue(new_item("p-3", "c-2"), now=NOW, claim=True)

    assert first.claimed and first.item.state == "inflight"
    assert not behind.claimed and behind.item.state == "pending"
    assert other.claimed


async def test_outbox_heads_are_the_oldest_due_row_of_each_customer(outbox: Outbox) -> None:
    a1 = (await outbox.enqueue(new_item("a1", "c-a"), now=NOW, claim=False)).item
    await outbox.enqueue(new_item("a2", "c-a"), now=NOW, claim=False)
    b1 = (await outbox.enqueue(new_item("b1", "c-b"), now=NOW, claim=False)).item
    await outbox.retry_later(b1.id, at=NOW + 60, error="5000", code=5000, now=NOW)

    heads = await outbox.ready_heads(NOW, 10)
    later = await outbox.ready_heads(NOW + 60, 10)
    due = await outbox.next_due()
    claims = [await outbox.claim(a1.id, NOW), await outbox.claim(a1.id, NOW)]

    assert [h.idem_key for h in heads] == ["payment:a1"]  # b1 is not due; b's queue waits
    assert [h.idem_key for h in later] == ["payment:a1", "payment:b1"]
    assert due == 0.0  # a1 is due now
    assert claims == [True, False]  # one claim only


# --- event times kept distinct per customer -----------------------------------------------------


async def test_outbox_two_rows_of_one_customer_at_one_millisecond_are_kept_apart(
    outbox: Outbox,
) -> None:
    first = await outbox.enqueue(payment_row("p-1", NOW, "c-1"), now=NOW, claim=False)
    second = await outbox.enqueue(payment_row("p-2", NOW, "c-1"), now=NOW, claim=False)
    refund = await outbox.enqueue(refund_row("r-1", "p-1", NOW, "c-1"), now=NOW, claim=False)
    other = await outbox.enqueue(payment_row("p-3", NOW, "c-2"), now=NOW, claim=False)

    ms = int(NOW * 1000)
    assert [first.item.tx_ms, second.item.tx_ms, refund.item.tx_ms] == [ms, ms + 1, ms + 2]
    assert msgspec.json.decode(second.item.body)["paymentDate"] == "2027-01-15T08:00:00.001Z"
    assert msgspec.json.decode(refund.item.body)["transactionTime"] == "2027-01-15T08:00:00.002Z"
    assert other.item.tx_ms == ms  # another customer may have the same instant


async def test_outbox_retime_moves_a_row_to_the_next_millisecond_its_customer_does_not_use(
    outbox: Outbox,
) -> None:
    rows = [
        (await outbox.enqueue(payment_row(f"p-{n}", NOW + n / 1000, "c-1"), now=NOW, claim=False))
        for n in range(3)
    ]

    moved = await outbox.retime(rows[0].item, NOW)

    ms = int(NOW * 1000)
    assert moved.tx_ms == ms + 3  # +1 and +2 are taken by the customer's other rows
    stored = await outbox.get(rows[0].item.id)
    assert stored is not None and stored.tx_ms == ms + 3
    assert msgspec.json.decode(stored.body)["paymentDate"] == "2027-01-15T08:00:00.003Z"


# --- the triggers: refunds parked and freed ------------------------------------------------------


async def test_outbox_refund_stored_after_its_open_payment_is_parked_behind_it(
    outbox: Outbox,
) -> None:
    payment = (await outbox.enqueue(payment_row("p-1", NOW), now=NOW, claim=False)).item

    refund = (await outbox.enqueue(refund_row("r-1", "p-1", NOW + 1), now=NOW, claim=True)).item
    sale = (await outbox.enqueue(payment_row("p-2", NOW + 2), now=NOW, claim=False)).item
    heads_before = [h.id for h in await outbox.ready_heads(NOW, 10)]
    await outbox.delivered(payment, outcome="ok", result=None, now=NOW)
    freed = await outbox.get(refund.id)
    heads_after = [h.id for h in await outbox.ready_heads(NOW, 10)]

    assert refund.state == "pending" and refund.blocking == 0
    assert heads_before == [payment.id]
    assert freed is not None and freed.blocking == 1 and freed.next_attempt_at == 0
    assert heads_after == [refund.id] and sale.id not in heads_after  # in its place, before p-2


async def test_outbox_refund_stored_before_its_payment_steps_aside_once_the_payment_comes(
    outbox: Outbox,
) -> None:
    refund = (await outbox.enqueue(refund_row("r-1", "p-1", NOW), now=NOW, claim=False)).item

    payment = (await outbox.enqueue(payment_row("p-1", NOW - 1), now=NOW, claim=False)).item

    parked = await outbox.get(refund.id)
    assert refund.blocking == 1 and parked is not None and parked.blocking == 0
    assert [h.id for h in await outbox.ready_heads(NOW, 10)] == [payment.id]


async def test_outbox_refund_is_freed_when_its_payment_is_refused_too(outbox: Outbox) -> None:
    payment = (await outbox.enqueue(payment_row("p-1", NOW), now=NOW, claim=False)).item
    refund = (await outbox.enqueue(refund_row("r-1", "p-1", NOW + 1), now=NOW, claim=False)).item

    await outbox.dead(payment, error="refused", code=3003, now=NOW)

    assert [h.id for h in await outbox.ready_heads(NOW, 10)] == [refund.id]


async def test_outbox_payment_retried_by_hand_parks_its_refund_again(outbox: Outbox) -> None:
    payment = (await outbox.enqueue(payment_row("p-1", NOW), now=NOW, claim=False)).item
    refund = (await outbox.enqueue(refund_row("r-1", "p-1", NOW + 1), now=NOW, claim=False)).item
    await outbox.dead(payment, error="refused", code=3003, now=NOW)

    assert await outbox.manual_retry(payment, NOW)

    parked = await outbox.get(refund.id)
    assert parked is not None and parked.blocking == 0
    assert [h.id for h in await outbox.ready_heads(NOW, 10)] == [payment.id]


# --- the triggers: holds claimed, burned, freed, released ---------------------------------------


async def test_outbox_delivered_sale_burns_its_hold(outbox: Outbox, database: Database) -> None:
    book = await hold_of(database, "h-1")
    sale = (await outbox.enqueue(burning("p-1", "h-1"), now=NOW, claim=True)).item

    await outbox.delivered(sale, outcome="ok", result=None, now=NOW + 1)

    assert await hold_state(book, "h-1") == "used"


async def test_outbox_refused_sale_frees_its_hold_for_another_and_takes_it_back_on_retry(
    outbox: Outbox, database: Database
) -> None:
    book = await hold_of(database, "h-1")
    sale = (await outbox.enqueue(burning("p-1", "h-1"), now=NOW, claim=True)).item

    await outbox.dead(sale, error="refused", code=3003, now=NOW)
    freed = await claimed_by(book, "h-1")
    await outbox.manual_retry(sale, NOW)

    assert freed is None and await hold_state(book, "h-1") == "active"
    assert await claimed_by(book, "h-1") == "payment:p-1"


async def test_outbox_discarded_sale_frees_its_hold(outbox: Outbox, database: Database) -> None:
    book = await hold_of(database, "h-1")
    sale = (await outbox.enqueue(burning("p-1", "h-1"), now=NOW, claim=False)).item

    assert await outbox.discard(sale, "voided at the till", NOW)

    assert await claimed_by(book, "h-1") is None


async def test_outbox_stored_release_marks_the_hold_released_at_once(
    outbox: Outbox, database: Database
) -> None:
    book = await hold_of(database, "h-1")

    await outbox.enqueue(
        release_item("h-1", "cust-1001", hold_action="release"), now=NOW, claim=False
    )

    assert await hold_state(book, "h-1") == "released"


async def test_outbox_release_does_not_undo_a_used_hold(outbox: Outbox, database: Database) -> None:
    book = await hold_of(database, "h-1", state="used")

    await outbox.enqueue(
        release_item("h-1", "cust-1001", hold_action="release"), now=NOW, claim=False
    )

    assert await hold_state(book, "h-1") == "used"

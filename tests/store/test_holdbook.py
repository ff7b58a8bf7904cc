"""The HoldBook on a real SQLite file: the holds made on this terminal, found by checkout or by
reference; what Gameball reports never undoes what this terminal knows for sure."""

from __future__ import annotations

import pytest

from sidecar.errors import StorageError
from sidecar.store.database import Database
from sidecar.store.holdbook import HoldBook, HoldState

NOW = 1_800_000_000.0


@pytest.fixture
def book(database: Database) -> HoldBook:
    return HoldBook(database)


async def add(
    book: HoldBook,
    reference: str,
    *,
    checkout: str | None = None,
    state: HoldState = "active",
    expires_at: float | None = NOW + 600,
    redeem_id: str | None = None,
) -> None:
    await book.add(
        hold_reference=reference,
        checkout_id=checkout or f"co-{reference}",
        fingerprint=b"basket",
        customer_id="cust-1001",
        hold_points=100,
        hold_amount=10,
        state=state,
        expires_at=expires_at,
        answer=b'{"state": "active"}',
        now=NOW,
        redeem_id=redeem_id,
    )


async def test_holdbook_finds_a_hold_by_checkout_and_by_reference(book: HoldBook) -> None:
    await add(book, "h-1", checkout="co-1", redeem_id="redeem-sale-1")

    by_checkout = await book.by_checkout("co-1")
    by_reference = await book.by_reference("h-1")

    assert by_checkout is not None and by_checkout == by_reference
    assert (by_checkout.customer_id, by_checkout.hold_points, by_checkout.state) == (
        "cust-1001",
        100,
        "active",
    )
    assert by_checkout.redeem_id == "redeem-sale-1" and by_checkout.redeem_uncertain == 0
    assert by_checkout.claimed_by is None and by_checkout.error is None
    assert await book.by_checkout("co-2") is None and await book.by_reference("h-2") is None


async def test_holdbook_one_checkout_has_one_hold(book: HoldBook) -> None:
    await add(book, "h-1", checkout="co-1")

    with pytest.raises(StorageError):
        await add(book, "h-2", checkout="co-1")


async def test_holdbook_gameballs_view_updates_an_active_hold(book: HoldBook) -> None:
    await add(book, "h-1")

    await book.refresh("h-1", "expired", None, NOW + 1)

    row = await book.by_reference("h-1")
    assert row is not None and row.state == "expired"
    assert row.expires_at == NOW + 600  # no new expiry: the one known is kept


@pytest.mark.parametrize("known", ["used", "released", "redeeming", "failed"])
async def test_holdbook_gameballs_view_never_undoes_what_this_terminal_knows(
    book: HoldBook, known: HoldState
) -> None:
    await add(book, "h-1", state=known)

    await book.refresh("h-1", "active", NOW + 900, NOW + 1)

    row = await book.by_reference("h-1")
    assert row is not None and row.state == known and row.expires_at == NOW + 600


async def test_holdbook_settle_records_the_outcome_and_its_answer(book: HoldBook) -> None:
    await add(book, "h-1", state="redeeming")
    await book.mark_redeem_uncertain("h-1", NOW + 1)

    await book.settle("h-1", state="failed", answer=b"{}", error=b'{"code": "X"}', now=NOW + 2)

    row = await book.by_reference("h-1")
    assert row is not None
    assert (row.state, row.error, row.redeem_uncertain, row.updated_at) == (
        "failed",
        b'{"code": "X"}',
        1,
        NOW + 2,
    )


async def test_holdbook_lists_only_the_redemptions_in_doubt(book: HoldBook) -> None:
    await add(book, "h-1", state="redeeming")
    await add(book, "h-2", state="active")
    await add(book, "h-3", state="redeeming")

    in_doubt = await book.redeeming()

    assert sorted(row.hold_reference for row in in_doubt) == ["h-1", "h-3"]


async def test_holdbook_forget_frees_the_checkout_for_a_new_hold(book: HoldBook) -> None:
    await add(book, "h-1", checkout="co-1")

    await book.forget("h-1")
    await add(book, "h-2", checkout="co-1")

    row = await book.by_checkout("co-1")
    assert row is not None and row.hold_reference == "h-2"
    assert await book.by_reference("h-1") is None

"""The outbox's rows as the code sees them: a stored row, a new one, and what a new row's
admission may depend on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

Kind = Literal[
    "payment",
    "order",
    "refund",
    "cashback",
    "manual",
    "customer",
    "redeem",
    "release",
    "coupon_release",
]
State = Literal["pending", "inflight", "delivered", "dead", "discarded"]
HoldAction = Literal["burn", "release"]
# The field of each kind's body that carries its event time (kept distinct per customer).
# The kinds whose POS id is the call's transaction id at Gameball, one list for all of them.
ONE_ID_LIST = frozenset({"payment", "order", "refund", "cashback", "manual"})
TIME_FIELDS: dict[str, str] = {
    "payment": "paymentDate",
    "order": "orderDate",
    "refund": "transactionTime",
    "cashback": "transactionTime",
    "manual": "transactionTime",
    "redeem": "transactionTime",
}


class Item(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One outbox row, in column order."""

    id: int
    kind: Kind
    idem_key: str
    fingerprint: bytes
    customer_id: str
    body: bytes
    amount: float
    tx_ms: int | None
    after_key: str | None
    hold_reference: str | None
    state: State
    outcome: str | None
    attempts: int
    next_attempt_at: float
    last_error: str | None
    last_code: int | None
    result: bytes | None
    created_at: float
    updated_at: float
    delivered_at: float | None
    discard_reason: str | None
    uncertain: int  # 1: an earlier send may have reached Gameball
    blocking: int  # 0: waits for another row without holding up its customer's queue
    note: str | None
    hold_action: HoldAction | None
    lock_reference: str | None  # the coupon lock a sale burns, or a queued release gives back
    # What the till discounted but Gameball could not redeem (redemption_failed): the merchant's.
    absorbed_points: float | None
    absorbed_value: float | None

    @property
    def burns_hold(self) -> bool:
        """A sale (payment or order) that redeems the points of a hold."""
        return (
            self.kind in ("payment", "order")
            and self.hold_action == "burn"
            and bool(self.hold_reference)
        )


class NewItem(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    idem_key: str
    fingerprint: bytes
    customer_id: str
    body: bytes
    amount: float = 0.0
    tx_ms: int | None = None
    # The row this one must follow (a refund's payment), by key.
    after_key: str | None = None
    hold_reference: str | None = None
    hold_action: HoldAction | None = None
    lock_reference: str | None = None


class HoldFacts(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    state: str
    claimed_by: str | None
    expires_at: float | None = None  # holds only (coupon locks leave it out)
    provisional: bool = False


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """What a new row's acceptance may depend on, read in the same step that stores it."""

    new: NewItem
    hold: HoldFacts | None  # the hold the row names, when it was made on this terminal
    lock: HoldFacts | None  # the coupon lock it names, likewise
    # Another stored sale (not refused, not given up) that burns the same hold or lock, by key:
    # known even for holds made elsewhere.
    hold_named_by: str | None = None
    lock_named_by: str | None = None
    # Another stored call whose Gameball transaction id is this row's (Gameball keeps one list
    # of ids for payments, orders, cashback, manual points and refunds), by key.
    id_taken_by: str | None = None
    open_count: int
    open_amount: float
    now: float = 0.0


Check = Callable[[Admission], None]


class Stored(msgspec.Struct, frozen=True, kw_only=True):
    item: Item
    created: bool  # False: an earlier request with the same id is what is stored
    claimed: bool  # True: stored ``inflight``, for the caller to deliver at once


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    open_count: int
    open_amount: float
    oldest_created_at: float | None
    by_state: dict[str, int]
    redemption_failed: int
    absorbed_points: float  # of every redemption_failed row
    absorbed_value: float
    struggling: int


def hold_facts(
    customer_id: str | None,
    state: str,
    claimed_by: str | None,
    expires_at: float | None = None,
    provisional: bool = False,
) -> HoldFacts | None:
    """What a stored row may depend on of the hold (or coupon lock) it names, if known here."""
    if customer_id is None:
        return None
    return HoldFacts(
        customer_id=customer_id,
        state=state,
        claimed_by=claimed_by,
        expires_at=expires_at,
        provisional=provisional,
    )

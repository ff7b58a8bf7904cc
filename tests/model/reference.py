"""The reference model: what the POS asked for and was told, and what that allows Gameball's
ledger and the sidecar's answers to be. It encodes the checkout's documented semantics (a hold
belongs to its customer; a used or released hold is refused; an id is one request for life)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .answers import Answer
from .settings import CUSTOMERS, MAX_PAYMENT_OFFLINE


@dataclass
class Hold:
    reference: str
    customer: str
    points: int
    checkout: str | None  # None: made at another till, so this sidecar does not know it
    redeemed: bool = False  # its own redeemNow answered a redemption
    released: bool = False  # the POS's release was acknowledged
    named_by: set[str] = field(default_factory=set)  # payments stored naming it

    @property
    def made_here(self) -> bool:
        return self.checkout is not None


@dataclass
class Provisional:
    """An offline hold this till answered: made here alone, held at Gameball at replay."""

    reference: str
    customer: str
    points: int
    amount: float  # the value the till was told it stands for
    checkout: str
    redeem_now: bool
    transaction_id: str | None
    made_at: int  # the journal's length when it was answered


@dataclass
class Checkout:
    checkout_id: str
    customer: str
    points: int
    redeem_now: bool
    transaction_id: str | None
    body: dict[str, Any]
    answers: list[Answer] = field(default_factory=list)
    reference: str | None = None

    @property
    def stored(self) -> bool:
        """The checkoutId is taken: a hold was answered, or its outcome is being settled."""
        return any(a.status == 200 or a.code == "REDEMPTION_OUTCOME_UNKNOWN" for a in self.answers)


@dataclass
class Lock:
    """A coupon lock this till's validate answered."""

    reference: str
    customer: str
    codes: list[str]
    released: bool = False  # the POS's release was acknowledged
    named_by: set[str] = field(default_factory=set)  # orders stored naming it


@dataclass
class Sale:
    """A stored call of the POS (a payment, order, refund, cashback, manual points or customer
    upsert): one id, one body, every answer it got."""

    kind: str  # a key of kinds.KINDS, or "customer"
    sale_id: str
    customer: str
    body: dict[str, Any]
    hold: str | None = None  # payments and orders: the hold named
    lock: str | None = None  # orders: the coupon lock named
    payment_id: str | None = None  # refunds: the payment or order reversed
    amount: float | None = None  # payments: totalPaid; refunds: None for "all that is left"
    answers: list[Answer] = field(default_factory=list)
    outbox_id: int | None = None

    @property
    def acknowledged(self) -> bool:
        return any(a.ok for a in self.answers)

    @property
    def delivered_answers(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 200]


@dataclass
class Expect:
    """What the documented semantics allow for one request."""

    refusals: frozenset[str] = frozenset()  # when non-empty, one of these codes is required...
    or_accept: bool = False  # ...unless this says acceptance (2xx) is fine too
    why: str = ""


class Model:
    def __init__(self) -> None:
        self.customers = CUSTOMERS
        self.holds: dict[str, Hold] = {}
        self.checkouts: dict[str, Checkout] = {}
        self.payments: dict[str, Sale] = {}
        self.refunds: dict[str, Sale] = {}
        self.releases: dict[str, list[Answer]] = {}
        self.locks: dict[str, Lock] = {}
        self.lock_releases: dict[str, list[Answer]] = {}
        # Cashback and manual points, by transactionId; customer upserts, by a made-up id.
        self.points: dict[str, Sale] = {}
        self.upserts: dict[str, Sale] = {}
        # Every coupon validation's answer (a lock it placed must not outlive a refusal).
        self.validations: list[Answer] = []
        # The paths whose answers Gameball is losing now, and the validations made meanwhile.
        self.losing: set[str] = set()
        self.unheard: set[int] = set()
        # Customers with an acknowledged upsert: newcomers may buy from then on.
        self.registered: set[str] = set()
        # Offline holds answered, by reference ([offline_redemption] on).
        self.provisional: dict[str, Provisional] = {}
        # Points taken at another store, straight at Gameball: transactionId -> customer.
        self.elsewhere: dict[str, str] = {}
        # Payment ids a refund or a redeem already used before any payment did; each is
        # promised to one customer so the later payment can be theirs.
        self.planned: dict[str, list[str]] = {c: [] for c in CUSTOMERS}
        self.redeem_ids: list[str] = []
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def plan_payment(self, customer: str) -> str:
        payment_id = self.fresh("P")
        self.planned[customer].append(payment_id)
        return payment_id

    def next_payment_id(self, customer: str) -> str:
        planned = self.planned.setdefault(customer, [])
        return planned.pop(0) if planned else self.fresh("P")

    def holds_of(self, customer: str, *, own: bool) -> list[Hold]:
        return [h for h in self.holds.values() if (h.customer == customer) == own]

    def payment_ids(self) -> list[str]:
        return list(self.payments)

    def expect_finalize(self, sale: Sale, spent: set[str]) -> Expect:
        """Refusals the fixed sidecar must give for a new payment, from what it knows locally.

        ``spent``: payment ids whose row can no longer burn a hold (dead, discarded, or
        delivered as redemption_failed). When several reasons apply, which one the sidecar
        names first is its own choice."""
        hold = self.holds.get(sale.hold or "")
        if hold is None:
            return Expect()
        reasons: dict[str, str] = {}
        if hold.made_here and hold.customer != sale.customer:
            reasons["HOLD_BELONGS_TO_ANOTHER_CUSTOMER"] = f"it was made here for {hold.customer}"
        others = hold.named_by - {sale.sale_id}
        if hold.redeemed:
            reasons["HOLD_ALREADY_USED"] = f"checkout {hold.checkout} redeemed it"
        elif others:
            reasons["HOLD_ALREADY_USED"] = f"stored sale(s) {sorted(others)} named it"
        if hold.made_here and hold.released:
            reasons["HOLD_RELEASED"] = "the POS released it"
        if not reasons:
            return Expect()
        # A hold named only by sales that never burned it: taking it again is fair too.
        accept = set(reasons) == {"HOLD_ALREADY_USED"} and not hold.redeemed
        accept = accept and not others - spent
        limit = {"OFFLINE_PAYMENT_LIMIT"} if _over_limit(sale.amount) else set()
        return Expect(
            frozenset(reasons) | limit,
            or_accept=accept,
            why=f"hold {hold.reference}: " + "; ".join(reasons.values()),
        )

    def expect_lock(self, sale: Sale, spent: set[str]) -> Expect:
        """Refusals due for an order naming a coupon lock made here (``spent``: orders whose
        row no longer burns that lock)."""
        lock = self.locks.get(sale.lock or "")
        if lock is None:
            return Expect()
        reasons: dict[str, str] = {}
        if lock.customer != sale.customer:
            reasons["COUPON_LOCK_BELONGS_TO_ANOTHER_CUSTOMER"] = f"it was made for {lock.customer}"
        others = lock.named_by - {sale.sale_id}
        if others:
            reasons["COUPON_LOCK_ALREADY_USED"] = f"stored order(s) {sorted(others)} named it"
        if lock.released:
            reasons["COUPON_LOCK_RELEASED"] = "the POS released it"
        if not reasons:
            return Expect()
        accept = set(reasons) == {"COUPON_LOCK_ALREADY_USED"} and not others - spent
        return Expect(
            frozenset(reasons),
            or_accept=accept,
            why=f"coupon lock {lock.reference}: " + "; ".join(reasons.values()),
        )

    def stored_refunds_of(self, payment_id: str) -> list[Sale]:
        return [r for r in self.refunds.values() if r.payment_id == payment_id and r.outbox_id]


def both(first: Expect, second: Expect) -> Expect:
    """What two sets of rules allow together: any refusal either requires, acceptance only
    where every rule that has refusals allows it."""
    if not first.refusals or not second.refusals:
        return first if first.refusals else second
    return Expect(
        first.refusals | second.refusals,
        or_accept=first.or_accept and second.or_accept,
        why=f"{first.why}; {second.why}",
    )


def _over_limit(amount: float | None) -> bool:
    return amount is not None and amount > MAX_PAYMENT_OFFLINE

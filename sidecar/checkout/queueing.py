"""Storing a call that can safely wait: the admission rules every stored call meets (the hold
and coupon rules always; the store-and-forward limits while Gameball is unreachable), the one
answer an id keeps for life, and the POS's own event times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from .. import errors
from ..clocks import REAL, Clocks
from ..delivery.dispatcher import Dispatcher
from ..gameball.connectivity import Connectivity
from ..store.rows import Admission, Check, NewItem
from .answers import answer_for
from .holdrules import may_burn
from .replies import SaleAnswer

FUTURE_TOLERANCE = 24 * 3600.0
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z


class OfflineLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Like a card terminal's store-and-forward limits: past one, the call is not queued."""

    max_payment_amount: float
    max_queued_amount: float
    max_queued_count: int
    max_offline_age: float


class Submitter:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        connectivity: Connectivity,
        limits: OfflineLimits,
        budget: float,
        clocks: Clocks = REAL,
    ) -> None:
        self._dispatcher = dispatcher
        self._connectivity = connectivity
        self._limits = limits
        self._budget = budget
        self.clock = clocks.clock
        self.timer = clocks.timer

    async def submit(
        self,
        new: NewItem,
        *,
        what: str,
        started: float,
        rules: Callable[[Admission], None] = may_burn,
        limited: bool = True,
        same: Callable[[bytes], bool] | None = None,
    ) -> SaleAnswer:
        """Store the call (or find it stored under its id) and deliver it at once when it may
        go; ``rules`` may refuse it; ``limited``: the offline limits apply to it; ``same``:
        whether a stored body whose digest differs is still this request (one an earlier
        release stored, digested its way)."""
        try:
            stored = await self._dispatcher.submit(
                new, check=self._check(rules, limited), budget=self._budget, started=started
            )
        except errors.StorageError as exc:
            raise errors.StorageUnavailable(
                f"The call could not be stored ({exc}), so it was NOT queued for loyalty; "
                "complete the sale without points and ask store IT to check the terminal's disk"
            ) from None
        differs = not stored.created and stored.item.fingerprint != new.fingerprint
        if differs and not (same is not None and same(stored.item.body)):
            raise errors.IdempotencyConflict(
                f"{what} was already used for a different request; send a new id for a "
                "different sale, or resend exactly the same body"
            )
        return answer_for(stored.item)

    def _check(self, rules: Callable[[Admission], None], limited: bool) -> Check:
        offline_for = self._connectivity.offline_for()
        too_long = offline_for > self._limits.max_offline_age
        offline = limited and (self._connectivity.offline or too_long)
        limits = self._limits

        def check(admission: Admission) -> None:
            id_free(admission)
            rules(admission)
            if not offline:
                return
            if too_long:
                raise errors.OfflineLimitReached(
                    f"This terminal has been offline for {offline_for / 3600:.1f} hours, longer "
                    "than it may queue loyalty calls; complete the sale without points and ask "
                    "store IT to restore the connection",
                    code="OFFLINE_TOO_LONG",
                )
            within_limits(admission, limits)

        return check


def id_free(admission: Admission) -> None:
    """Gameball keeps one list of transaction ids for payments, orders, refunds, cashback and
    manual points: an id this terminal already used for another of them is taken."""
    taken = admission.id_taken_by
    if taken is None:
        return
    kind, _, used = taken.partition(":")
    raise errors.TransactionIdTaken(
        f"{used!r} is already the id of a {kind} stored on this terminal, and Gameball keeps one "
        "list of ids for payments, orders, refunds, cashback and manual points; give this call "
        "its own id"
    )


def within_limits(admission: Admission, limits: OfflineLimits) -> None:
    amount = admission.new.amount
    if amount > limits.max_payment_amount:
        raise errors.OfflineLimitReached(
            f"Payments over {limits.max_payment_amount:g} are not queued while Gameball is "
            "unreachable; complete the sale without loyalty points",
            code="OFFLINE_PAYMENT_LIMIT",
        )
    if admission.open_count + 1 > limits.max_queued_count:
        raise errors.OfflineLimitReached(
            f"{admission.open_count} calls are already waiting for Gameball, the most this "
            "terminal may hold offline; finish the sale without loyalty and ask store IT to "
            "restore the connection",
            code="OFFLINE_QUEUE_FULL",
        )
    if admission.open_amount + amount > limits.max_queued_amount:
        raise errors.OfflineLimitReached(
            f"Queuing this payment would take the amount waiting for Gameball past "
            f"{limits.max_queued_amount:g}; finish the sale without loyalty until the store is "
            "online",
            code="OFFLINE_AMOUNT_LIMIT",
        )


def event_time(moment: datetime | None, field: str, now: float) -> float:
    """The POS's own time of the event (kept for replay), or now when it sent none; a time
    without a zone is UTC, as Gameball reads it."""
    if moment is None:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        stamp = moment.timestamp()
    except (OverflowError, ValueError):
        stamp = EARLIEST - 1
    if stamp > now + FUTURE_TOLERANCE:
        raise errors.ValidationFailed.field(field, "is more than a day in the future")
    if stamp < EARLIEST:
        raise errors.ValidationFailed.field(field, "is before 2000; send the real time of sale")
    return stamp

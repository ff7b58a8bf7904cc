"""Finalize a payment or refund it: each is stamped with the store's identity, committed to
the outbox before any 2xx, then delivered at once when Gameball answers within the budget
(delivered) or left for replay (queued). A resend of the same id and body gets the stored
outcome, whatever the connectivity or the limits; past an offline limit nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from .. import errors
from ..clocks import REAL, Clocks
from ..delivery.dispatcher import Dispatcher
from ..gameball.connectivity import Connectivity
from ..gameball.wire import GbMerchant
from ..store.outbox import Outbox
from ..store.rows import Admission, Check, NewItem, Stored
from ..timefmt import iso_ms
from .answers import answer_for
from .holdrules import may_burn
from .models import FinalizeRequest, RefundRequest, SaleAnswer, fingerprint_of

FUTURE_TOLERANCE = 24 * 3600.0
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z


class OfflineLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Like a card terminal's store-and-forward limits: past one, the sale is not queued."""

    max_payment_amount: float
    max_queued_amount: float
    max_queued_count: int
    max_offline_age: float


class Store(msgspec.Struct, frozen=True, kw_only=True):
    """What every stored call is stamped with, as it was when the sale happened."""

    merchant: GbMerchant
    terminal_id: str


class Sales:
    def __init__(
        self,
        *,
        outbox: Outbox,
        dispatcher: Dispatcher,
        connectivity: Connectivity,
        store: Store,
        budget: float,
        limits: OfflineLimits,
        clocks: Clocks = REAL,
    ) -> None:
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._connectivity = connectivity
        self._merchant = msgspec.to_builtins(store.merchant)
        self._terminal_id = store.terminal_id
        self._budget = budget
        self._limits = limits
        self._clock = clocks.clock
        self._timer = clocks.timer

    async def finalize(self, request: FinalizeRequest) -> SaleAnswer:
        started = self._timer()
        paid_at = _event_time(request.paymentDate, "$.paymentDate", self._clock())
        body = {k: v for k, v in msgspec.to_builtins(request).items() if v is not None}
        body["paymentDate"] = iso_ms(paid_at)
        body["merchant"] = self._merchant
        body["channel"] = "pos"
        body["extra"] = {"terminalId": self._terminal_id, **(body.get("extra") or {})}
        hold = request.redemption.pointsHoldReference if request.redemption else None
        new = NewItem(
            kind="payment",
            idem_key=f"payment:{request.paymentId}",
            fingerprint=fingerprint_of(request),
            customer_id=request.customerId,
            body=msgspec.json.encode(body),
            amount=request.totalPaid,
            tx_ms=int(paid_at * 1000),
            hold_reference=hold,
            hold_action="burn" if hold else None,
        )
        return await self._submit(new, started, what=f"paymentId {request.paymentId!r}")

    async def refund(self, request: RefundRequest) -> SaleAnswer:
        started = self._timer()
        payment = await self._outbox.by_key(f"payment:{request.paymentId}")
        customer_id = request.customerId or (payment.customer_id if payment else None)
        if customer_id is None:
            raise errors.ValidationFailed.field(
                "$.customerId",
                "required because this payment was not finalized through this sidecar",
            )
        if payment is not None and customer_id != payment.customer_id:
            raise errors.ValidationFailed.field(
                "$.customerId", f"payment {request.paymentId!r} belongs to another customer"
            )
        refunded_at = _event_time(request.refundDate, "$.refundDate", self._clock())
        body: dict[str, Any] = {
            "customerId": customer_id,
            "refundTransactionId": request.refundId,
            "reverseTransactionId": request.paymentId,
            "transactionTime": iso_ms(refunded_at),
            "merchant": self._merchant,
        }
        if request.amount is not None:
            body["refundAmount"] = request.amount
        if request.lineItems:
            body["lineItems"] = msgspec.to_builtins(request.lineItems)
        new = NewItem(
            kind="refund",
            idem_key=f"refund:{request.refundId}",
            fingerprint=fingerprint_of(request),
            customer_id=customer_id,
            body=msgspec.json.encode(body),
            tx_ms=int(refunded_at * 1000),
            after_key=f"payment:{request.paymentId}",
        )
        return await self._submit(new, started, what=f"refundId {request.refundId!r}")

    async def _submit(self, new: NewItem, started: float, what: str) -> SaleAnswer:
        try:
            stored = await self._dispatcher.submit(
                new, check=self._admission_check(), budget=self._budget, started=started
            )
        except errors.StorageError as exc:
            raise errors.StorageUnavailable(
                f"The sale could not be stored ({exc}), so it was NOT queued for loyalty; "
                "complete it without points and ask store IT to check the terminal's disk"
            ) from None
        return _answer(stored, new, what)

    def _admission_check(self) -> Check:
        """The hold rules always; the store-and-forward limits while Gameball is unreachable
        (or, right after a start, when it was last reached too long ago)."""
        offline_for = self._connectivity.offline_for()
        too_long = offline_for > self._limits.max_offline_age
        if not self._connectivity.offline and not too_long:
            return may_burn
        limits = self._limits

        def check(admission: Admission) -> None:
            may_burn(admission)
            if too_long:
                raise errors.OfflineLimitReached(
                    f"This terminal has been offline for {offline_for / 3600:.1f} hours, longer "
                    "than it may queue loyalty calls; complete the sale without points and ask "
                    "store IT to restore the connection",
                    code="OFFLINE_TOO_LONG",
                )
            _within_limits(admission, limits)

        return check


def _answer(stored: Stored, new: NewItem, what: str) -> SaleAnswer:
    if not stored.created and stored.item.fingerprint != new.fingerprint:
        raise errors.IdempotencyConflict(
            f"{what} was already used for a different request; send a new id for a different "
            "sale, or resend exactly the same body"
        )
    return answer_for(stored.item)


def _within_limits(admission: Admission, limits: OfflineLimits) -> None:
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


def _event_time(moment: datetime | None, field: str, now: float) -> float:
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

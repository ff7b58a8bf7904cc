"""Finalize a payment, refund it, release a hold: each is stamped with the store's identity,
committed to the outbox before any 2xx, then delivered at once when Gameball answers within
the budget (delivered) or left for replay (queued). A resend of the same id and body gets the
stored outcome, whatever the connectivity or the limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import msgspec

from . import errors
from .connectivity import Connectivity
from .delivery import ALREADY_CANCELLED, ID_EXISTS, Alarm, Delivery
from .models import FinalizeRequest, GbMerchant, RefundRequest, SaleAnswer, fingerprint_of
from .outbox import Item, Limits, NewItem, Outbox, Refused
from .pacing import Pacer
from .replay import Lanes, Replayer
from .storage import Storage, StorageError
from .timefmt import iso_ms

log = logging.getLogger(__name__)

FUTURE_TOLERANCE = 24 * 3600.0
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z

# What the outbox refuses, as the POS hears it.
REFUSALS: dict[str, type[errors.SidecarError]] = {
    "HOLD_BELONGS_TO_ANOTHER_CUSTOMER": errors.HoldBelongsToAnotherCustomer,
    "HOLD_ALREADY_USED": errors.HoldAlreadyUsed,
    "HOLD_RELEASED": errors.HoldReleased,
}


class OfflineLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_payment_amount: float
    max_queued_amount: float
    max_queued_count: int
    max_offline_age: float


class Sales:
    def __init__(
        self,
        *,
        outbox: Outbox,
        storage: Storage,
        delivery: Delivery,
        replayer: Replayer,
        lanes: Lanes,
        connectivity: Connectivity,
        alarm: Alarm,
        pacer: Pacer,
        merchant: GbMerchant,
        terminal_id: str,
        budget: float,
        limits: OfflineLimits,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._storage = storage
        self._delivery = delivery
        self._replayer = replayer
        self._lanes = lanes
        self._connectivity = connectivity
        self._alarm = alarm
        self._pacer = pacer
        self._merchant = msgspec.to_builtins(merchant)
        self._terminal_id = terminal_id
        self._budget = budget
        self._limits = limits
        self._spawn = spawn
        self._clock = clock
        self._timer = timer

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
            time_field="paymentDate",
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
            time_field="transactionTime",
            after_key=f"payment:{request.paymentId}",
        )
        return await self._submit(new, started, what=f"refundId {request.refundId!r}")

    async def release(self, reference: str) -> SaleAnswer:
        started = self._timer()
        hold = await self._storage.hold_by_reference(reference)
        if hold is None:
            raise errors.HoldNotFound(
                f"Hold {reference!r} was not made through this sidecar, so it cannot be released "
                "here; check the reference"
            )
        new = self._release_item(reference, hold.customer_id, hold_action="release")
        return await self._submit(new, started, what="this release")

    async def release_orphan(self, reference: str, customer_id: str) -> None:
        """A hold whose checkout failed: release it durably, in the background."""
        try:
            await self._submit(self._release_item(reference, customer_id), self._timer(), "")
        except errors.SidecarError as exc:
            log.warning("hold %s not queued for release (%s); it lapses at expiry", reference, exc)

    def _release_item(
        self, reference: str, customer_id: str, *, hold_action: str | None = None
    ) -> NewItem:
        return NewItem(
            kind="release",
            idem_key=f"release:{reference}",
            fingerprint=b"release",
            customer_id=customer_id,
            body=b"{}",
            hold_reference=reference,
            hold_action="release" if hold_action else None,
        )

    async def _submit(self, new: NewItem, started: float, what: str) -> SaleAnswer:
        offline = self._connectivity.offline
        claim = not (
            offline
            or self._alarm.raised
            or self._pacer.paused
            or new.customer_id in self._lanes.busy
        )
        try:
            item, created, claimed = await self._outbox.enqueue(
                new, now=self._clock(), limits=self._offline_limits(), claim=claim
            )
        except Refused as exc:
            refusal = REFUSALS.get(exc.code)
            if refusal is not None:
                raise refusal(f"{exc.message[0].upper()}{exc.message[1:]}") from None
            raise errors.OfflineLimitReached(
                f"{exc.message[0].upper()}{exc.message[1:]}", code=exc.code
            ) from None
        except StorageError as exc:
            raise errors.StorageUnavailable(
                f"The sale could not be stored ({exc}), so it was NOT queued for loyalty; "
                "complete it without points and ask store IT to check the terminal's disk"
            ) from None
        if not created:
            if item.fingerprint != new.fingerprint:
                raise errors.IdempotencyConflict(
                    f"{what} was already used for a different request; send a new id for a "
                    "different sale, or resend exactly the same body"
                )
            return answer_for(item)
        if not claimed:
            self._replayer.wake()
            return answer_for(item)
        self._lanes.busy.add(item.customer_id)
        task = self._spawn(self._deliver_now(item))
        remaining = self._budget - (self._timer() - started)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=max(0.0, remaining))
        except TimeoutError:
            # The call goes on and its answer is recorded on the row. A Gameball this slow
            # counts as unreachable so the next sales queue without waiting, but only if the
            # call was really out there (not just waiting its turn under the rate limit).
            if item.id in self._delivery.on_the_wire:
                self._connectivity.record_failure("no answer within the finalize budget")
        try:
            latest = await self._outbox.get(item.id)
        except StorageError:
            latest = None  # stored already: "queued" is true, whatever happens next
        return answer_for(latest or item)

    def _offline_limits(self) -> Limits | None:
        """The store-and-forward limits, while Gameball is unreachable (or, right after a
        start, when it was last reached too long ago)."""
        offline_for = self._connectivity.offline_for()
        too_long = None
        if offline_for > self._limits.max_offline_age:
            too_long = (
                f"This terminal has been offline for {offline_for / 3600:.1f} hours, longer than "
                "it may queue loyalty calls; complete the sale without points and ask store IT "
                "to restore the connection"
            )
        if not self._connectivity.offline and too_long is None:
            return None
        return Limits(
            max_count=self._limits.max_queued_count,
            max_amount=self._limits.max_queued_amount,
            max_item_amount=self._limits.max_payment_amount,
            too_long=too_long,
        )

    async def _deliver_now(self, item: Item) -> None:
        try:
            await self._delivery.deliver(item)
        except Exception:
            log.exception("delivering outbox item %d failed unexpectedly", item.id)
            await self._delivery.requeue_after_crash(item)
        finally:
            self._lanes.busy.discard(item.customer_id)
            self._replayer.wake()


def answer_for(item: Item) -> SaleAnswer:
    """What the POS hears for a stored row: delivered or queued, or the refusal that ended it."""
    if item.state == "dead":
        raise refusal_for(item)
    if item.state == "discarded":
        raise errors.Discarded(
            f"This {item.kind} was discarded by store IT and will not reach Gameball: "
            f"{item.discard_reason or 'no reason given'}"
        )
    result: dict[str, Any] = msgspec.json.decode(item.result) if item.result else {}
    delivered = item.state == "delivered"
    return SaleAnswer(
        status="delivered" if delivered else "queued",
        outboxId=item.id,
        paymentId=_id_of(item, "payment"),
        refundId=_id_of(item, "refund"),
        holdReference=item.hold_reference if item.kind == "release" else None,
        rewardedPoints=result.get("rewardedPoints"),
        redeemedPoints=result.get("redeemedPoints"),
        outcome=item.outcome if delivered else None,
    )


def refusal_for(item: Item) -> errors.SidecarError:
    """A dead row's reason, as the error the POS hears (at once, or when it resends)."""
    ident = item.idem_key.partition(":")[2]
    if item.last_code == ID_EXISTS:
        return errors.TransactionIdTaken(
            f"Gameball already has a transaction with the id {ident!r} that this terminal did "
            "not send (another till, or a redemption, used it); use a new id for this sale",
            upstream_code=item.last_code,
        )
    if item.kind == "refund" and item.last_code == ALREADY_CANCELLED:
        return errors.AlreadyRefunded(
            f"Gameball says the payment refund {ident!r} reverses is already fully refunded; "
            "nothing more was refunded",
            upstream_code=item.last_code,
        )
    return errors.UpstreamRejected(
        f"Gameball refused this {item.kind} ({item.last_error or 'no reason given'}); it is "
        f"kept as outbox item {item.id} for store IT",
        upstream_code=item.last_code,
    )


def _id_of(item: Item, kind: str) -> str | None:
    return item.idem_key.removeprefix(f"{kind}:") if item.kind == kind else None


def _event_time(text: str | None, field: str, now: float) -> float:
    """The POS's own time of the event (kept for replay), or now when it sent none."""
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.ValidationFailed.field(
            field, "must be an ISO 8601 date-time such as 2026-11-22T10:48:56.719Z"
        ) from None
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

"""Sales and their refunds: a payment (Gameball's Track Payment) or a retail order (Track Order)
is stamped with the store's identity and its own time, committed to the outbox before any 2xx,
then delivered at once when Gameball answers within the budget or left for replay. A refund
names the payment or the order it reverses and is never sent before it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from .. import errors
from ..gameball.wire import GbMerchant
from ..store.outbox import Outbox
from ..store.rows import NewItem
from ..timefmt import iso_ms
from .fields import Redemption, fingerprint_of, same_call
from .models import FinalizeRequest, OrderRequest, RefundRequest
from .queueing import Submitter, event_time
from .replies import SaleAnswer


class Store(msgspec.Struct, frozen=True, kw_only=True):
    """What every stored call is stamped with, as it was when the sale happened."""

    merchant: GbMerchant
    terminal_id: str


class Sales:
    def __init__(self, *, outbox: Outbox, submitter: Submitter, store: Store) -> None:
        self._outbox = outbox
        self._submitter = submitter
        self._merchant = msgspec.to_builtins(store.merchant)
        self._terminal_id = store.terminal_id

    async def finalize(self, request: FinalizeRequest) -> SaleAnswer:
        started = self._submitter.timer()
        paid_at = event_time(request.paymentDate, "$.paymentDate", self._submitter.clock())
        body = self._stamped(request, "paymentDate", paid_at)
        new = _sale(
            "payment",
            request.paymentId,
            request,
            body,
            paid_at,
            request.totalPaid,
            request.redemption,
        )
        return await self._submitter.submit(
            new,
            what=f"paymentId {request.paymentId!r}",
            started=started,
            same=_as_stored(new.body, "paymentDate", dated=request.paymentDate is not None),
        )

    async def finalize_order(self, request: OrderRequest) -> SaleAnswer:
        started = self._submitter.timer()
        ordered_at = event_time(request.orderDate, "$.orderDate", self._submitter.clock())
        body = self._stamped(request, "orderDate", ordered_at)
        new = _sale(
            "order",
            request.orderId,
            request,
            body,
            ordered_at,
            request.totalPaid,
            request.redemption,
        )
        return await self._submitter.submit(
            new, what=f"orderId {request.orderId!r}", started=started
        )

    async def refund(self, request: RefundRequest) -> SaleAnswer:
        started = self._submitter.timer()
        kind, sale_id = _reversed(request)
        sale = await self._outbox.by_key(f"{kind}:{sale_id}")
        customer_id = request.customerId or (sale.customer_id if sale else None)
        if customer_id is None:
            raise errors.ValidationFailed.field(
                "$.customerId",
                f"required because this {kind} was not finalized through this sidecar",
            )
        if sale is not None and customer_id != sale.customer_id:
            raise errors.ValidationFailed.field(
                "$.customerId", f"{kind} {sale_id!r} belongs to another customer"
            )
        refunded_at = event_time(request.refundDate, "$.refundDate", self._submitter.clock())
        body: dict[str, Any] = {
            "customerId": customer_id,
            "refundTransactionId": request.refundId,
            "reverseTransactionId": sale_id,
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
            after_key=f"{kind}:{sale_id}",
        )
        return await self._submitter.submit(
            new,
            what=f"refundId {request.refundId!r}",
            started=started,
            same=_as_stored(new.body, "transactionTime", dated=request.refundDate is not None),
        )

    def _stamped(self, request: msgspec.Struct, time_field: str, at: float) -> dict[str, Any]:
        """Gameball's body: the POS's fields, the store's identity, channel ``pos``, the till."""
        body = {k: v for k, v in msgspec.to_builtins(request).items() if v is not None}
        body[time_field] = iso_ms(at)
        body["merchant"] = self._merchant
        body["channel"] = "pos"
        body["extra"] = {"terminalId": self._terminal_id, **(body.get("extra") or {})}
        return body


def _as_stored(body: bytes, time_field: str, *, dated: bool) -> Callable[[bytes], bool]:
    """Payments and refunds are the kinds 0.1.0 stored, digesting requests another way: a row
    of its holding the same body is this request (its stored outcome, not a 409)."""
    return lambda stored: same_call(stored, body, time_field=time_field, dated=dated)


def _sale(
    kind: str,
    sale_id: str,
    request: msgspec.Struct,
    body: dict[str, Any],
    at: float,
    paid: float,
    redemption: Redemption | None,
) -> NewItem:
    hold = redemption.pointsHoldReference if redemption else None
    return NewItem(
        kind=kind,  # type: ignore[arg-type]  # "payment" or "order"
        idem_key=f"{kind}:{sale_id}",
        fingerprint=fingerprint_of(request),
        customer_id=body["customerId"],
        body=msgspec.json.encode(body),
        amount=paid,
        tx_ms=int(at * 1000),
        hold_reference=hold,
        hold_action="burn" if hold else None,
        lock_reference=redemption.couponsLockReference if redemption else None,
    )


def _reversed(request: RefundRequest) -> tuple[str, str]:
    """What the refund reverses: exactly one of a payment and an order."""
    if (request.paymentId is None) == (request.orderId is None):
        raise errors.ValidationFailed.field(
            "$.paymentId",
            "send exactly one of `paymentId` or `orderId` (the sale this refund reverses)",
        )
    if request.orderId is not None:
        return "order", request.orderId
    assert request.paymentId is not None
    return "payment", request.paymentId

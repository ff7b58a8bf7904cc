"""What the POS hears for a stored call (payment, refund, release): delivered or queued, or the
refusal that ended it, the same on the first answer and on every identical resend."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import errors
from ..gameball.codes import Code
from ..store.rows import Item
from .replies import SaleAnswer


def answer_for(item: Item) -> SaleAnswer:
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
        orderId=_id_of(item, "order"),
        refundId=_id_of(item, "refund"),
        transactionId=_id_of(item, "cashback") or _id_of(item, "manual"),
        customerId=item.customer_id if item.kind == "customer" else None,
        holdReference=item.hold_reference if item.kind == "release" else None,
        lockReference=item.lock_reference if item.kind == "coupon_release" else None,
        rewardedPoints=result.get("rewardedPoints"),
        redeemedPoints=result.get("redeemedPoints"),
        points=result.get("points"),
        outcome=item.outcome if delivered else None,
    )


def refusal_for(item: Item) -> errors.ApiError:
    """A dead row's reason, as the error the POS hears (at once, or when it resends)."""
    ident = item.idem_key.partition(":")[2]
    if item.last_code == Code.ID_EXISTS:
        return errors.TransactionIdTaken(
            f"Gameball already has a transaction with the id {ident!r} that this terminal did "
            "not send (another till, or a redemption, used it); use a new id for this sale",
            upstream_code=item.last_code,
        )
    if item.kind == "refund" and item.last_code == Code.ALREADY_CANCELLED:
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
    return item.idem_key.partition(":")[2] if item.kind == kind else None

"""Refunds: undo a share of a payment, order, cashback or redeem, by amount or, for an order,
by the products returned."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from .bodies import Refund, RefundLine
from .books import Books, Posting, SoldLine
from .errors import GameballError, invalid_value, missing_field

# Money amounts closer than this are the same amount (refund arithmetic on floats).
_CENT = 0.005
_UNIT = 1e-9


def refund(books: Books, body: Refund) -> dict[str, Any]:
    """Earned points go and redeemed points return, in proportion to the money refunded (the
    cumulative share is floored, so partial refunds never overshoot); a full refund undoes
    everything left. An order refunded by lineItems (productId, quantity) also gives back each
    returned unit's campaign points, as Gameball's refund guide shows; the refunded value is
    what those units earned on (earning.order_lines), which is price * quantity from the
    original order when neither the line nor the order was discounted. Returning every unit
    left is a full refund. More units than were bought, or a product not in the order, is
    3003; refunds by amount alone take back base points only, never campaign points."""
    cid, refund_id = body.customer_id, body.refund_transaction_id
    when = books.log.check_new(cid, refund_id, "transactionTime", body.transaction_time)
    reverse_id = body.reverse_transaction_id
    if books.final.get(reverse_id) == cid:
        raise GameballError(9000, f"Transaction '{reverse_id}' cannot be reversed.")
    original = books.reversible.get(reverse_id)
    if original is None or original.customer_id != cid:
        raise GameballError(9005, f"Reversed transaction '{reverse_id}' was not found.")
    if original.closed:
        raise GameballError(9001, "The transaction has already been cancelled.")
    remaining = original.amount - original.refunded_amount
    by_product = original.kind == "order" and bool(body.line_items)
    lines, value = _returned(original.lines, body.line_items or []) if by_product else (None, 0.0)
    requested = _refund_amount(body, remaining, value if by_product else None)
    every_unit = lines is not None and all(line.returned >= line.units - _UNIT for line in lines)
    if every_unit and body.refund_amount is None:
        requested = round(remaining, 2)
    refunded = original.refunded_amount + requested
    closing = every_unit or refunded >= original.amount - _CENT
    share = 1.0 if closing else refunded / original.amount
    base_cancel = math.floor(original.base * share) - original.cancelled_base
    lines_after = tuple(
        msgspec.structs.replace(line, cancelled_extra=_extra_due(line, closing))
        for line in (lines if lines is not None else original.lines)
    )
    extra_cancel = sum(
        a.cancelled_extra - b.cancelled_extra
        for a, b in zip(lines_after, original.lines, strict=True)
    )
    cancel = base_cancel + extra_cancel
    give_back = math.floor(original.redeemed * share) - original.returned
    posting = Posting(
        transaction_id=refund_id,
        customer_id=cid,
        transaction_time=body.transaction_time,
        merchant=body.merchant,
    )
    entries = []
    if original.kind != "redeem":
        before = books.accounts.total(cid)
        books.accounts.cancel_earned(cid, cancel, source_id=reverse_id)
        entries.append(books.record(posting, "Cancel", "-", cancel, requested, before))
    if original.kind == "redeem" or give_back > 0:
        before = books.accounts.total(cid)
        books.accounts.give_back(cid, give_back)
        entries.append(books.record(posting, "Refund", "+", give_back, requested, before))
    books.log.commit(refund_id, cid, when)
    books.reversible[reverse_id] = msgspec.structs.replace(
        original,
        refunded_amount=refunded,
        cancelled_base=original.cancelled_base + base_cancel,
        cancelled=original.cancelled + cancel,
        returned=original.returned + give_back,
        closed=closing,
        lines=lines_after,
    )
    return {
        "gameballTransactionId": str(entries[0].gameball_id),
        "refundTransactionId": refund_id,
        "refundAmount": requested,
        "refundEquivalentPoints": give_back if original.kind == "redeem" else cancel,
    }


def _returned(
    lines: tuple[SoldLine, ...], items: list[RefundLine]
) -> tuple[tuple[SoldLine, ...], float]:
    """The order's lines with these units marked returned, and the value they earned on. A
    line without quantity returns every unit of that product not returned yet."""
    after, value = list(lines), 0.0
    for index, item in enumerate(items):
        product = item.product_id
        if not product:
            raise missing_field(f"lineItems[{index}].productId")
        matching = [i for i, line in enumerate(after) if line.product_id == product]
        if not matching:
            raise invalid_value(f"lineItems[{index}].productId", f"the order has no '{product}'")
        left = sum(after[i].units - after[i].returned for i in matching)
        wanted = left if item.quantity is None else item.quantity
        if wanted <= 0 or wanted > left + _UNIT:
            why = f"{wanted:g} is not between 0 and the {left:g} bought and not yet returned"
            raise invalid_value(f"lineItems[{index}].quantity", why)
        for i in matching:
            taken = min(after[i].units - after[i].returned, wanted)
            wanted -= taken
            value += taken * after[i].unit_value
            after[i] = msgspec.structs.replace(after[i], returned=after[i].returned + taken)
    return tuple(after), value


def _extra_due(line: SoldLine, closing: bool) -> int:
    """The campaign points of a line that should be cancelled by now, in total."""
    if closing:
        return line.extra
    return math.floor(line.extra * min(line.returned / line.units, 1.0))


def _refund_amount(body: Refund, remaining: float, product_value: float | None) -> float:
    """refundAmount if given, else the refunded line items' value, else everything left."""
    if body.refund_amount is not None:
        requested = body.refund_amount
    elif product_value is not None:
        requested = product_value
    elif body.line_items:
        requested = sum(
            item.price * (1.0 if item.quantity is None else item.quantity)
            for item in body.line_items
        )
    else:
        return round(remaining, 2)
    if requested > remaining + _CENT:
        raise invalid_value("refundAmount", f"exceeds the refundable amount {remaining:.2f}")
    return round(min(requested, remaining), 2)

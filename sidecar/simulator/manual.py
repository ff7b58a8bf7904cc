"""Manual transactions: a person adds or deducts points, saying who and why."""

from __future__ import annotations

from typing import Any

from . import rules
from .books import Books, Posting
from .errors import LegacyError, insufficient_points, invalid_value
from .retail_bodies import ManualTransaction


def manual(books: Books, body: ManualTransaction) -> dict[str, Any]:
    """`points` (signed) or `amount` (signed money the customer paid, turned into points by
    their tier's cashback rule, as the transactions reference describes manual rewards).
    Refused with the spec's own 400 bodies: neither or both given, and expiryAfter on a
    deduction. A deduction may take only available points (9008) and never creates a
    customer; an addition creates one, as Gameball does. expiryAfter (days) overrides the
    programme's points lifetime; 0 or null follows it. A manual transaction cannot be refunded
    (9000): another manual transaction corrects it."""
    cid = body.customer_id
    when = books.log.check_new(cid, body.transaction_id, "transactionTime", body.transaction_time)
    if body.points is None and body.amount is None:
        raise LegacyError("A rewarding criteria is required")
    if body.points is not None and body.amount is not None:
        raise LegacyError("Only one rewarding method may be specified")
    if body.points is not None:
        points, field = body.points, "points"
    else:
        amount = body.amount or 0.0
        magnitude = rules.points_for(abs(amount), books.accounts.tier(cid))
        points, field = (magnitude if amount >= 0 else -magnitude), "amount"
    given = body.points if body.points is not None else body.amount
    if given == 0:
        raise invalid_value(field, "zero adds and deducts nothing")
    deduct = (given or 0) < 0
    if deduct and body.expiry_after is not None:
        raise LegacyError("Deduction cannot have expiry")
    money = body.amount if body.amount is not None else rules.money_for_points(points)
    posting = Posting(
        transaction_id=body.transaction_id,
        customer_id=cid,
        transaction_time=body.transaction_time or books.now_iso(),
        reason=body.reason,
        username=body.username,
    )
    if deduct:
        available = books.accounts.available(cid) if books.accounts.find(cid) else 0
        if -points > available:
            raise insufficient_points(-points, available)
        before = books.accounts.total(cid)
        books.accounts.debit(cid, -points)
        entry = books.record(posting, "ManualDeduction", "-", -points, abs(money), before)
    else:
        entry = books.earn(
            posting, points, money, kind="ManualAccumulation", expiry_days=body.expiry_after
        )
    books.log.commit(body.transaction_id, cid, when)
    books.final[body.transaction_id] = cid
    return {
        "customerId": cid,
        "gameballTransactionId": entry.gameball_id,
        "transactionId": body.transaction_id,
        "points": points,
        "amount": money,
    }

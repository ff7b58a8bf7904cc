"""Spending: holds, redeem, and the hold and coupon lock a payment or an order burns."""

from __future__ import annotations

from typing import Any

import msgspec

from . import rules
from .accounts import Hold
from .bodies import HoldPoints, Redeem, Redemption, exactly_one, parse_time
from .books import Books, Posting, Reversible
from .coupons import Coupons
from .errors import GameballError, insufficient_points, invalid_value


class Burn(msgspec.Struct, frozen=True, kw_only=True):
    """What a payment or order will spend, checked before anything changes."""

    hold: Hold | None = None
    lock_reference: str | None = None


def check_burn(
    books: Books, coupons: Coupons, customer_id: str, redemption: Redemption | None
) -> Burn:
    """The hold must be active and the customer's own (else 9006); the coupon lock active, the
    customer's own and holding every code named (4004, 9009, 9010). couponCodes without a lock
    are only history: Gameball burns coupons through their lock."""
    if redemption is None:
        return Burn()
    reference = redemption.points_hold_reference
    hold = books.accounts.active_hold(reference, customer_id=customer_id) if reference else None
    lock = redemption.coupons_lock_reference
    if lock:
        coupons.check_burn(lock, customer_id, redemption.coupon_codes)
    return Burn(hold=hold, lock_reference=lock or None)


def apply_burn(books: Books, coupons: Coupons, posting: Posting, burn: Burn) -> int:
    """Burn what check_burn allowed; the points redeemed."""
    redeemed = 0
    if burn.hold is not None:
        customer_id = posting.customer_id
        before = books.accounts.total(customer_id)
        hold = books.accounts.use_hold(burn.hold.reference, customer_id=customer_id)
        redeemed = hold.points
        books.record(posting, "Redemption", "-", redeemed, hold.amount, before)
    if burn.lock_reference is not None:
        coupons.burn(burn.lock_reference)
    return redeemed


def place_hold(books: Books, body: HoldPoints) -> dict[str, Any]:
    parse_time("transactionTime", body.transaction_time)
    option = exactly_one(
        pointsToHold=body.points_to_hold, amountToHold=body.amount_to_hold, ruleId=body.rule_id
    )
    books.accounts.require(body.customer_id)
    if body.points_to_hold is not None:
        points = body.points_to_hold
    elif body.amount_to_hold is not None:
        points = rules.points_for_money(body.amount_to_hold)
    else:
        rule = rules.redemption_rule(body.rule_id or "")
        if rule is None:
            raise invalid_value(option, f"no redemption rule '{body.rule_id}'")
        points = rule.points_to_redeem
    hold = books.accounts.place_hold(body.customer_id, points)
    return {
        "customerId": hold.customer_id,
        "holdAmount": hold.amount,
        "holdEquivalentPoints": hold.points,
        "holdReference": hold.reference,
    }


def hold_owner(books: Books, reference: str) -> str | None:
    try:
        return books.accounts.get_hold(reference).customer_id
    except GameballError:
        return None


def redeem(books: Books, body: Redeem) -> dict[str, Any]:
    cid = body.customer_id
    when = books.log.check_new(cid, body.transaction_id, "transactionTime", body.transaction_time)
    exactly_one(amount=body.amount, points=body.points, holdReference=body.hold_reference)
    before = books.accounts.total(cid)
    if body.hold_reference is not None:
        hold = books.accounts.use_hold(body.hold_reference, customer_id=cid)
        points, amount = hold.points, hold.amount
    else:
        points = body.points or rules.points_for_money(body.amount or 0.0)
        amount = rules.money_for_points(points)
        available = books.accounts.available(cid)
        if points > available:
            raise insufficient_points(points, available)
        books.accounts.debit(cid, points)
    posting = Posting(
        transaction_id=body.transaction_id,
        customer_id=cid,
        transaction_time=body.transaction_time,
        merchant=body.merchant,
        reason=body.reason,
    )
    entry = books.record(posting, "Redemption", "-", points, amount, before)
    books.log.commit(body.transaction_id, cid, when)
    books.reversible[body.transaction_id] = Reversible(
        kind="redeem", customer_id=cid, amount=amount, redeemed=points
    )
    answer = {
        "customerId": cid,
        "gameballTransactionId": str(entry.gameball_id),
        "transactionId": body.transaction_id,
        "redeemAmount": amount,
        "redeemEquivalentPoints": points,
    }
    return answer | ({"reason": body.reason} if body.reason else {})

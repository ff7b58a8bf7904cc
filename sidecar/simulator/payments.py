"""Payments: the quote, track payment (earn, and burn a hold or a coupon lock) and cashback."""

from __future__ import annotations

from typing import Any

from . import earning, rules
from .bodies import Cashback, PaymentQuote, TrackPayment
from .books import Books, Posting, Reversible
from .coupons import Coupons
from .errors import missing_field
from .redemption import apply_burn, check_burn


def quote(books: Books, body: PaymentQuote) -> dict[str, Any]:
    tier = books.accounts.tier(body.customer_id)
    lines = body.payment_details or []
    if body.total_paid is None and not lines:
        raise missing_field("totalPaid")
    paid = body.total_paid
    if paid is None:
        paid = sum(map(earning.line_paid, lines))
    shares = earning.payment_lines(lines)
    return {
        "totalPoints": earning.earned(paid, shares, tier),
        "totalScore": rules.score_for(paid, tier),
        "paymentDetails": earning.quote_details(shares, tier, "serviceId"),
    }


def track_payment(books: Books, coupons: Coupons, body: TrackPayment) -> dict[str, Any]:
    cid = body.customer_id
    when = books.log.check_new(cid, body.payment_id, "paymentDate", body.payment_date)
    burn = check_burn(books, coupons, cid, body.redemption)
    tier = books.accounts.tier(cid)
    books.accounts.ensure(cid)
    shares = earning.payment_lines(body.payment_details or [])
    rewarded = earning.earned(body.total_paid, shares, tier)
    posting = Posting(
        transaction_id=body.payment_id,
        customer_id=cid,
        transaction_time=body.payment_date,
        merchant=body.merchant,
        channel=body.channel,
    )
    redeemed = apply_burn(books, coupons, posting, burn)
    days = body.cashback_configurations.return_window if body.cashback_configurations else 0
    books.earn(posting, rewarded, body.total_paid, days)
    books.log.commit(body.payment_id, cid, when)
    books.reversible[body.payment_id] = Reversible(
        kind="payment",
        customer_id=cid,
        amount=body.total_paid,
        rewarded=rewarded,
        base=rewarded,
        redeemed=redeemed,
    )
    return {
        "customerId": cid,
        "redeemedPoints": redeemed,
        "rewardedPoints": rewarded,
        "paymentDetails": earning.tracked_details(shares, tier, "serviceId", quantity=False),
    }


def cashback(books: Books, body: Cashback) -> dict[str, Any]:
    """Amount-only earning by the customer's tier rule; refundable like a payment."""
    cid = body.customer_id
    when = books.log.check_new(cid, body.transaction_id, "transactionTime", body.transaction_time)
    tier = books.accounts.tier(cid)
    books.accounts.ensure(cid)
    points = rules.points_for(body.amount, tier)
    days = body.configurations.return_window if body.configurations else 0
    posting = Posting(
        transaction_id=body.transaction_id,
        customer_id=cid,
        transaction_time=body.transaction_time,
        merchant=body.merchant,
    )
    entry = books.earn(posting, points, body.amount, days)
    books.log.commit(body.transaction_id, cid, when)
    books.reversible[body.transaction_id] = Reversible(
        kind="cashback", customer_id=cid, amount=body.amount, rewarded=points, base=points
    )
    return {
        "customerId": cid,
        # A number here, unlike the string ids of redeem and refund: so says the spec.
        "gameballTransactionId": entry.gameball_id,
        # The spec: "the monetary value equivalent of the points rewarded" (its example, which
        # echoes the amount beside 0 points, contradicts its own description).
        "rewardAmount": rules.money_for_points(points),
        "rewardEquivalentPoints": points,
    }

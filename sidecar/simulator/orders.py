"""Orders: Gameball's Track Order (earn from line items, burn a hold and a coupon lock) and its
side-effect-free quote, both by the rule in earning.order_lines."""

from __future__ import annotations

from typing import Any

from . import earning, rules
from .books import Books, Posting, Reversible, SoldLine
from .coupons import Coupons
from .redemption import apply_burn, check_burn
from .retail_bodies import OrderQuote, TrackOrder


def quote_order(books: Books, body: OrderQuote) -> dict[str, Any]:
    tier = books.accounts.tier(body.customer_id)
    shares = earning.order_lines(body.line_items or [], body.total_paid)
    return {
        "totalPoints": earning.earned(body.total_paid, shares, tier),
        "totalScore": rules.score_for(body.total_paid, tier),
        "lineItems": earning.quote_details(shares, tier, "productId"),
    }


def track_order(books: Books, coupons: Coupons, body: TrackOrder) -> dict[str, Any]:
    """Earn on totalPaid plus the campaign on promo lines, burn the hold (9006 unless active and
    the customer's own) and the coupon lock, and keep each line so it can be refunded by
    productId. orderId shares one namespace with every other transaction id (9004); one
    customer cannot have two transactions at the same orderDate (9003)."""
    cid = body.customer_id
    when = books.log.check_new(cid, body.order_id, "orderDate", body.order_date)
    burn = check_burn(books, coupons, cid, body.redemption)
    tier = books.accounts.tier(cid)
    books.accounts.ensure(cid)
    shares = earning.order_lines(body.line_items or [], body.total_paid)
    rewarded = earning.earned(body.total_paid, shares, tier)
    posting = Posting(
        transaction_id=body.order_id,
        customer_id=cid,
        transaction_time=body.order_date,
        merchant=body.merchant,
        channel=body.channel,
    )
    redeemed = apply_burn(books, coupons, posting, burn)
    days = body.cashback_configurations.return_window if body.cashback_configurations else 0
    books.earn(posting, rewarded, body.total_paid, days)
    books.log.commit(body.order_id, cid, when)
    books.reversible[body.order_id] = Reversible(
        kind="order",
        customer_id=cid,
        amount=body.total_paid,
        rewarded=rewarded,
        base=rules.points_for(body.total_paid, tier),
        redeemed=redeemed,
        lines=tuple(
            SoldLine(
                product_id=share.key,
                units=share.quantity,
                unit_value=share.value / share.quantity,
                extra=earning.extra_points(share, tier),
            )
            for share in shares
        ),
    )
    return {
        "customerId": cid,
        "redeemedPoints": redeemed,
        "rewardedPoints": rewarded,
        "lineItems": earning.tracked_details(shares, tier, "productId", quantity=True),
    }

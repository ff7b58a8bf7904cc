"""Points a payment or an order earns: the tier rule on totalPaid, per-line detail, the hidden
campaign."""

from __future__ import annotations

from typing import Any

import msgspec

from . import rules
from .bodies import PaymentLine
from .retail_bodies import OrderLine


class Share(msgspec.Struct, frozen=True, kw_only=True):
    """One line as earning sees it: the money it earns on and the campaign's multiplier."""

    key: str
    quantity: float
    value: float
    factor: int


def line_paid(line: PaymentLine) -> float:
    return max(line.amount - line.discount, 0.0)


def payment_lines(lines: list[PaymentLine]) -> list[Share]:
    return [
        Share(
            key=line.service_id or "",
            quantity=1,
            value=line_paid(line),
            factor=_factor(line.tags, line.category),
        )
        for line in lines
    ]


def order_lines(lines: list[OrderLine], total_paid: float) -> list[Share]:
    """An order's lines earn on price * quantity less the line's discount; when those add up to
    more than totalPaid (an order-level discount, a coupon or points paid for part of them),
    every line is scaled down in proportion, so no line earns on money that was not paid.

    Gameball's own order guide computes points on totalPaid alone ("points are earned based on
    totalPaid only", tax included), so the lines never add to or take from the base points:
    they give the per-line breakdown and decide which money the promo campaign doubles."""
    values = [max(line.price * line.quantity - line.discount, 0.0) for line in lines]
    gross = sum(values)
    scale = min(1.0, total_paid / gross) if gross > 0 else 0.0
    return [
        Share(
            key=line.product_id or "",
            quantity=line.quantity,
            value=value * scale,
            factor=_factor(line.tags, line.category),
        )
        for line, value in zip(lines, values, strict=True)
    ]


def extra_points(share: Share, tier: rules.Tier) -> int:
    """What the campaign adds on a line beyond the tier rule."""
    return rules.points_for(share.value, tier) * (share.factor - 1)


def earned(total_paid: float, shares: list[Share], tier: rules.Tier) -> int:
    """Points for totalPaid by the tier rule, plus the campaign's extra on promo lines.

    Only totalPaid earns under the published rule, so without promo lines the answer equals
    what anyone can compute from configurations/cashback; with them it is visibly more.
    """
    return rules.points_for(total_paid, tier) + sum(extra_points(s, tier) for s in shares)


def quote_details(shares: list[Share], tier: rules.Tier, key: str) -> list[dict[str, Any]]:
    """paymentDetails of a payments/cashback quote, lineItems of an orders/cashback quote;
    `key` names the line's id (serviceId or productId)."""
    details = []
    for share in shares:
        base = rules.points_for(share.value, tier)
        in_campaign = share.factor > 1
        details.append(
            {
                key: share.key,
                "quantity": share.quantity,
                "totalDecimalPoints": round(
                    rules.exact_points(share.value, tier) * share.factor, 4
                ),
                "totalPoints": base * share.factor,
                "totalScore": rules.score_for(share.value, tier),
                "rewardWalletFactor": tier.reward_wallet_factor,
                "campaignId": rules.PROMO_CAMPAIGN_ID if in_campaign else None,
                "campaignName": rules.PROMO_CAMPAIGN_NAME if in_campaign else None,
                "campaignEndDate": None,
                "campaignImpactWalletFactor": tier.reward_wallet_factor * (share.factor - 1),
                "campaignImpactPoints": base * (share.factor - 1),
            }
        )
    return details


def tracked_details(
    shares: list[Share], tier: rules.Tier, key: str, *, quantity: bool
) -> list[dict[str, Any]]:
    """paymentDetails of a track-payment answer (no quantity), lineItems of a track-order one."""
    details = []
    for share in shares:
        line: dict[str, Any] = {key: share.key}
        if quantity:
            line["quantity"] = share.quantity
        line |= {
            "decimalPoints": round(rules.exact_points(share.value, tier) * share.factor, 4),
            "points": rules.points_for(share.value, tier) * share.factor,
            "score": rules.score_for(share.value, tier),
        }
        details.append(line)
    return details


def _factor(tags: list[str] | None, category: list[str] | None) -> int:
    return rules.PROMO_MULTIPLIER if rules.is_promo(tags, category) else 1

"""Points a payment earns: the tier rule on totalPaid, per-line detail, the hidden campaign."""

from __future__ import annotations

from typing import Any

from . import rules
from .bodies import PaymentLine


def line_paid(line: PaymentLine) -> float:
    return max(line.amount - line.discount, 0.0)


def multiplier(line: PaymentLine) -> int:
    return rules.PROMO_MULTIPLIER if rules.is_promo(line.tags, line.category) else 1


def earned(total_paid: float, lines: list[PaymentLine], tier: rules.Tier) -> int:
    """Points for totalPaid by the tier rule, plus the campaign's extra on promo lines.

    Only totalPaid earns under the published rule, so without promo lines the answer equals
    what anyone can compute from configurations/cashback; with them it is visibly more.
    """
    extra = sum(rules.points_for(line_paid(line), tier) * (multiplier(line) - 1) for line in lines)
    return rules.points_for(total_paid, tier) + extra


def quote_details(lines: list[PaymentLine], tier: rules.Tier) -> list[dict[str, Any]]:
    """paymentDetails of a payments/cashback quote."""
    details = []
    for line in lines:
        paid, factor = line_paid(line), multiplier(line)
        base = rules.points_for(paid, tier)
        in_campaign = factor > 1
        details.append(
            {
                "serviceId": line.service_id or "",
                "quantity": 1,
                "totalDecimalPoints": round(rules.exact_points(paid, tier) * factor, 4),
                "totalPoints": base * factor,
                "totalScore": rules.score_for(paid, tier),
                "rewardWalletFactor": tier.reward_wallet_factor,
                "campaignId": rules.PROMO_CAMPAIGN_ID if in_campaign else None,
                "campaignName": rules.PROMO_CAMPAIGN_NAME if in_campaign else None,
                "campaignEndDate": None,
                "campaignImpactWalletFactor": tier.reward_wallet_factor * (factor - 1),
                "campaignImpactPoints": base * (factor - 1),
            }
        )
    return details


def payment_details(lines: list[PaymentLine], tier: rules.Tier) -> list[dict[str, Any]]:
    """paymentDetails of a track-payment answer."""
    return [
        {
            "serviceId": line.service_id or "",
            "decimalPoints": round(rules.exact_points(line_paid(line), tier) * multiplier(line), 4),
            "points": rules.points_for(line_paid(line), tier) * multiplier(line),
            "score": rules.score_for(line_paid(line), tier),
        }
        for line in lines
    ]

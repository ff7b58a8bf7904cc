"""The simulated merchant's loyalty programme: tiers, earning rules, the campaign, redemption."""

from __future__ import annotations

import math
from typing import Any

import msgspec

# One point is worth this much money when redeemed (Gameball's redemptionFactor).
REDEMPTION_FACTOR = 0.1
CURRENCY = "USD"
POINTS_NAME = "Points"

# A hidden campaign: lines tagged or categorised "promo" earn double. It is not exposed by
# configurations/cashback, so an estimate made from the published rules alone falls short.
PROMO_TAG = "promo"
PROMO_MULTIPLIER = 2
PROMO_CAMPAIGN_ID = 501
PROMO_CAMPAIGN_NAME = "Double points on promo items"


class Tier(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    # Lifetime earned points at which a customer reaches this tier.
    min_lifetime_points: int
    amount_reward_threshold: float
    reward_wallet_factor: float
    reward_rank_factor: float


# Bronze 1 point per 1 money, Silver 1.5x from 1,000 lifetime points, Gold 2x from 5,000.
TIERS: tuple[Tier, ...] = (
    Tier(
        name="Bronze",
        min_lifetime_points=0,
        amount_reward_threshold=1.0,
        reward_wallet_factor=1.0,
        reward_rank_factor=1.0,
    ),
    Tier(
        name="Silver",
        min_lifetime_points=1_000,
        amount_reward_threshold=1.0,
        reward_wallet_factor=1.5,
        reward_rank_factor=1.0,
    ),
    Tier(
        name="Gold",
        min_lifetime_points=5_000,
        amount_reward_threshold=1.0,
        reward_wallet_factor=2.0,
        reward_rank_factor=1.0,
    ),
)
DEFAULT_TIER = TIERS[0]


class RedemptionRule(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    points_to_redeem: int
    rule_type: str
    coupon_type: str
    discount_value: float


REDEMPTION_RULES: tuple[RedemptionRule, ...] = (
    RedemptionRule(
        id=1,
        points_to_redeem=100,
        rule_type="fixed_rate_settings",
        coupon_type="fixed_discount",
        discount_value=10.0,
    ),
    RedemptionRule(
        id=2,
        points_to_redeem=250,
        rule_type="free_shipping_settings",
        coupon_type="free_shipping",
        discount_value=0.0,
    ),
)


def tier_index_by_name(name: str) -> int:
    for index, tier in enumerate(TIERS):
        if tier.name.lower() == name.lower():
            return index
    raise ValueError(f"unknown tier {name!r}; known: {', '.join(t.name for t in TIERS)}")


def tier_index_for(lifetime_points: int) -> int:
    return max(i for i, t in enumerate(TIERS) if lifetime_points >= t.min_lifetime_points)


def exact_points(amount: float, tier: Tier) -> float:
    return max(amount, 0.0) * tier.reward_wallet_factor / tier.amount_reward_threshold


def points_for(amount: float, tier: Tier) -> int:
    # Round before flooring so 0.1 + 0.2 style float noise does not cost a customer a point.
    return math.floor(round(exact_points(amount, tier), 6))


def score_for(amount: float, tier: Tier) -> int:
    return math.floor(
        round(max(amount, 0.0) * tier.reward_rank_factor / tier.amount_reward_threshold, 6)
    )


def points_for_money(amount: float) -> int:
    """Points needed to cover `amount` of money; rounded up so the customer pays in full."""
    return math.ceil(round(amount / REDEMPTION_FACTOR, 6))


def money_for_points(points: int) -> float:
    return round(points * REDEMPTION_FACTOR, 2)


def is_promo(tags: list[str] | None, category: list[str] | None) -> bool:
    labels = [*(tags or []), *(category or [])]
    return any(label.strip().lower() == PROMO_TAG for label in labels)


def reward_factor(tier: Tier) -> float:
    # Gameball's doc prints the ratio upside down; this is the percentage actually returned:
    # points per money unit times the money value of a point.
    return round(
        tier.reward_wallet_factor / tier.amount_reward_threshold * REDEMPTION_FACTOR * 100, 4
    )


def rule_body(tier: Tier) -> dict[str, Any]:
    return {
        "amountRewardThreshold": tier.amount_reward_threshold,
        "rewardWalletFactor": tier.reward_wallet_factor,
        "rewardRankFactor": tier.reward_rank_factor,
        "rewardFactor": reward_factor(tier),
    }


def cashback_configuration(tier: Tier | None) -> dict[str, Any]:
    """The configurations/cashback answer; with a customer's tier, only that tier's rule."""
    tiers = TIERS if tier is None else (tier,)
    return {
        "defaultCashbackRule": rule_body(DEFAULT_TIER),
        "tierCashbackRules": [{"tierName": t.name, **rule_body(t)} for t in tiers],
    }


def redemption_configuration() -> dict[str, Any]:
    return {
        "redemptionFactor": REDEMPTION_FACTOR,
        "redemptionRules": [
            {
                "id": rule.id,
                "pointsToRedeem": rule.points_to_redeem,
                "valueOfPoint": REDEMPTION_FACTOR,
                "ruleType": rule.rule_type,
                "coupon": {"couponType": rule.coupon_type, "discountValue": rule.discount_value},
                "isActive": True,
            }
            for rule in REDEMPTION_RULES
        ],
    }


def redemption_rule(rule_id: str) -> RedemptionRule | None:
    return next((r for r in REDEMPTION_RULES if str(r.id) == rule_id.strip()), None)


class Programme(msgspec.Struct, frozen=True, kw_only=True):
    """The merchant's settings a test may change: lifetimes, and the sign-up and referral
    rewards. The defaults are what a new Gameball account commonly starts with."""

    hold_ttl_seconds: float = 600.0
    # Coupons stay locked this long unless a validate call asks for its own lockDuration.
    coupon_lock_ttl_seconds: float = 600.0
    # Points a customer registered through POST /integrations/customers gets once.
    welcome_points: int = 50
    # Gameball's "CustomerAndFriend" referral method: the referrer and the new friend both
    # earn, at the friend's registration (the qualifying action in this programme).
    referrer_points: int = 100
    friend_points: int = 50
    # Days earned points stay spendable; None means points never expire (Gameball's default).
    points_lifetime_days: int | None = None

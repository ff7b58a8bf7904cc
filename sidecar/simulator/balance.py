"""GET .../balance: a customer's points as Gameball's CustomerBalanceResponse shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import rules
from .accounts import Accounts
from .simtime import naive_iso


def balance_body(accounts: Accounts, customer_id: str) -> dict[str, Any]:
    """Every field of the spec's answer. The next expiring points are the spendable lots due
    on the soonest expiry day; the date is written as Gameball's POS guide shows it, without a
    zone (the spec types it as a plain string), and left out while nothing expires."""
    customer = accounts.require(customer_id)
    pending = accounts.pending(customer_id)
    available = accounts.available(customer_id)
    total = accounts.total(customer_id)
    body: dict[str, Any] = {
        "totalPointsBalance": total,
        "totalPointsValue": rules.money_for_points(total),
        "availablePointsBalance": available,
        "availablePointsValue": rules.money_for_points(available),
        "pendingPoints": pending,
        "pendingPointsValue": rules.money_for_points(pending),
        "currency": rules.CURRENCY,
        "pointsName": rules.POINTS_NAME,
        "nextExpiringPointsAmount": 0,
        "nextExpiringPointsValue": 0,
        "totalEarnedPoints": customer.lifetime_earned,
    }
    if customer.expiring:
        soonest = min(lot.expires_at for lot in customer.expiring)
        day = _utc_day(soonest)
        due = sum(lot.points for lot in customer.expiring if _utc_day(lot.expires_at) == day)
        body |= {
            "nextExpiringPointsAmount": due,
            "nextExpiringPointsValue": rules.money_for_points(due),
            "nextExpiringPointsDate": naive_iso(soonest),
        }
    return body


def _utc_day(timestamp: float) -> dt.date:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date()

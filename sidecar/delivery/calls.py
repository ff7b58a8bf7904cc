"""What each kind of queued call is at Gameball: the method and path its row is sent to, the
answer it reads back, and what of that answer is kept on the row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..gameball import paths
from ..gameball.wire import (
    GbCashbackAnswer,
    GbCustomerAnswer,
    GbManualAnswer,
    GbPaymentAnswer,
    GbRedeemAnswer,
    GbRefundAnswer,
    as_number,
)
from ..store.rows import Item


class Call(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    path: Callable[[Item], str]
    answer: type[Any]
    kept: Callable[[Any], dict[str, Any]]
    # The rows the call writes in the customer's ledger at Gameball, under its id.
    ledger: tuple[str, ...] = ()


def _fixed(path: str) -> Callable[[Item], str]:
    return lambda _item: path


def _earned(answer: GbPaymentAnswer) -> dict[str, Any]:
    return {
        "rewardedPoints": as_number(answer.rewardedPoints),
        "redeemedPoints": as_number(answer.redeemedPoints),
    }


# A sale earns (even 0 points) and may burn a hold, both under its id.
EARNING = ("PaymentReward", "Redemption")

CALLS: dict[str, Call] = {
    "payment": Call(
        method="POST",
        path=_fixed(paths.PAYMENTS_PATH),
        answer=GbPaymentAnswer,
        kept=_earned,
        ledger=EARNING,
    ),
    "order": Call(
        method="POST",
        path=_fixed(paths.ORDERS_PATH),
        answer=GbPaymentAnswer,
        kept=_earned,
        ledger=EARNING,
    ),
    "refund": Call(
        method="POST",
        path=_fixed(paths.REFUND_PATH),
        answer=GbRefundAnswer,
        kept=lambda a: {
            "refundAmount": as_number(a.refundAmount),
            "refundEquivalentPoints": as_number(a.refundEquivalentPoints),
        },
        ledger=("Cancel", "Refund"),
    ),
    "cashback": Call(
        method="POST",
        path=_fixed(paths.CASHBACK_PATH),
        answer=GbCashbackAnswer,
        kept=lambda a: {
            "rewardedPoints": as_number(a.rewardEquivalentPoints),
            "rewardAmount": as_number(a.rewardAmount),
        },
        ledger=("PaymentReward",),
    ),
    "redeem": Call(
        method="POST",
        path=_fixed(paths.REDEEM_PATH),
        answer=GbRedeemAnswer,
        kept=lambda a: {"redeemedPoints": as_number(a.redeemEquivalentPoints)},
        ledger=("Redemption",),
    ),
    "manual": Call(
        method="POST",
        path=_fixed(paths.MANUAL_PATH),
        answer=GbManualAnswer,
        kept=lambda a: {"points": as_number(a.points), "amount": as_number(a.amount)},
        ledger=("ManualAccumulation", "ManualDeduction", "ManualReward"),
    ),
    "customer": Call(
        method="POST",
        path=_fixed(paths.CUSTOMERS_PATH),
        answer=GbCustomerAnswer,
        kept=lambda a: {"gameballId": a.gameballId} if a.gameballId is not None else {},
    ),
    "release": Call(
        method="DELETE",
        path=lambda item: paths.hold_path(item.hold_reference or ""),
        answer=dict,
        kept=lambda _a: {},
    ),
    "coupon_release": Call(
        method="DELETE",
        path=lambda item: paths.coupon_lock_path(item.lock_reference or ""),
        answer=dict,
        kept=lambda _a: {},
    ),
}

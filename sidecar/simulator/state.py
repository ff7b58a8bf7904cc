"""The simulated Gameball ledger: each API operation's business rules, with no HTTP."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from . import earning, rules
from .accounts import Accounts
from .bodies import (
    Cashback,
    HoldPoints,
    Merchant,
    PaymentQuote,
    Redeem,
    Refund,
    TrackPayment,
    exactly_one,
    parse_time,
)
from .errors import GameballError, insufficient_points, invalid_value, missing_field
from .transactions import Entry, TransactionLog

# Money amounts closer than this are the same amount (refund arithmetic on floats).
_CENT = 0.005


class Reversible(msgspec.Struct, frozen=True, kw_only=True):
    """What a payment, cashback or redeem did, so refunds can undo it proportionally."""

    kind: Literal["payment", "cashback", "redeem"]
    customer_id: str
    amount: float
    rewarded: int = 0
    redeemed: int = 0
    refunded_amount: float = 0.0
    cancelled: int = 0
    returned: int = 0
    closed: bool = False


class Ledger:
    """Customers, holds and transactions; time comes from `clock` so tests can move it."""

    def __init__(self, *, clock: Callable[[], float], hold_ttl_seconds: float) -> None:
        self._clock = clock
        self.accounts = Accounts(now=clock, hold_ttl_seconds=hold_ttl_seconds)
        self.log = TransactionLog(clock=clock)
        self._reversible: dict[str, Reversible] = {}

    def quote(self, body: PaymentQuote) -> dict[str, Any]:
        tier = self.accounts.tier(body.customer_id)
        lines = body.payment_details or []
        if body.total_paid is None and not lines:
            raise missing_field("totalPaid")
        paid = body.total_paid
        if paid is None:
            paid = sum(map(earning.line_paid, lines))
        return {
            "totalPoints": earning.earned(paid, lines, tier),
            "totalScore": rules.score_for(paid, tier),
            "paymentDetails": earning.quote_details(lines, tier),
        }

    def track_payment(self, body: TrackPayment) -> dict[str, Any]:
        cid = body.customer_id
        when = self.log.check_new(cid, body.payment_id, "paymentDate", body.payment_date)
        reference = body.redemption.points_hold_reference if body.redemption else None
        if reference:
            self.accounts.active_hold(reference, customer_id=cid)
        tier = self.accounts.tier(cid)
        self.accounts.ensure(cid)
        lines = body.payment_details or []
        rewarded = earning.earned(body.total_paid, lines, tier)
        common = _Common(
            transaction_id=body.payment_id,
            customer_id=cid,
            transaction_time=body.payment_date,
            merchant=body.merchant,
            channel=body.channel,
        )
        redeemed = 0
        if reference:
            before = self.accounts.total(cid)
            hold = self.accounts.use_hold(reference, customer_id=cid)
            redeemed = hold.points
            self._record(common, "Redemption", "-", redeemed, hold.amount, before)
        days = body.cashback_configurations.return_window if body.cashback_configurations else 0
        self._earn(common, rewarded, body.total_paid, days)
        self.log.commit(body.payment_id, cid, when)
        self._reversible[body.payment_id] = Reversible(
            kind="payment",
            customer_id=cid,
            amount=body.total_paid,
            rewarded=rewarded,
            redeemed=redeemed,
        )
        return {
            "customerId": cid,
            "redeemedPoints": redeemed,
            "rewardedPoints": rewarded,
            "paymentDetails": earning.payment_details(lines, tier),
        }

    def cashback(self, body: Cashback) -> dict[str, Any]:
        cid = body.customer_id
        when = self.log.check_new(
            cid, body.transaction_id, "transactionTime", body.transaction_time
        )
        tier = self.accounts.tier(cid)
        self.accounts.ensure(cid)
        points = rules.points_for(body.amount, tier)
        days = body.configurations.return_window if body.configurations else 0
        common = _Common(
            transaction_id=body.transaction_id,
            customer_id=cid,
            transaction_time=body.transaction_time,
            merchant=body.merchant,
        )
        entry = self._earn(common, points, body.amount, days)
        self.log.commit(body.transaction_id, cid, when)
        self._reversible[body.transaction_id] = Reversible(
            kind="cashback", customer_id=cid, amount=body.amount, rewarded=points
        )
        return {
            "customerId": cid,
            # A number here, unlike the string ids of redeem and refund: so says the spec.
            "gameballTransactionId": entry.gameball_id,
            "rewardAmount": body.amount,
            "rewardEquivalentPoints": points,
        }

    def place_hold(self, body: HoldPoints) -> dict[str, Any]:
        parse_time("transactionTime", body.transaction_time)
        option = exactly_one(
            pointsToHold=body.points_to_hold, amountToHold=body.amount_to_hold, ruleId=body.rule_id
        )
        self.accounts.require(body.customer_id)
        if body.points_to_hold is not None:
            points = body.points_to_hold
        elif body.amount_to_hold is not None:
            points = rules.points_for_money(body.amount_to_hold)
        else:
            rule = rules.redemption_rule(body.rule_id or "")
            if rule is None:
                raise invalid_value(option, f"no redemption rule '{body.rule_id}'")
            points = rule.points_to_redeem
        hold = self.accounts.place_hold(body.customer_id, points)
        return {
            "customerId": hold.customer_id,
            "holdAmount": hold.amount,
            "holdEquivalentPoints": hold.points,
            "holdReference": hold.reference,
        }

    def get_hold(self, reference: str) -> dict[str, Any]:
        return self.accounts.hold_body(self.accounts.get_hold(reference))

    def hold_owner(self, reference: str) -> str | None:
        try:
            return self.accounts.get_hold(reference).customer_id
        except GameballError:
            return None

    def release_hold(self, reference: str) -> dict[str, Any]:
        self.accounts.release_hold(reference)
        return {"success": True, "message": "Hold released successfully"}

    def redeem(self, body: Redeem) -> dict[str, Any]:
        cid = body.customer_id
        when = self.log.check_new(
            cid, body.transaction_id, "transactionTime", body.transaction_time
        )
        exactly_one(amount=body.amount, points=body.points, holdReference=body.hold_reference)
        before = self.accounts.total(cid)
        if body.hold_reference is not None:
            hold = self.accounts.use_hold(body.hold_reference, customer_id=cid)
            points, amount = hold.points, hold.amount
        else:
            points = body.points or rules.points_for_money(body.amount or 0.0)
            amount = rules.money_for_points(points)
            available = self.accounts.available(cid)
            if points > available:
                raise insufficient_points(points, available)
            self.accounts.debit(cid, points)
        common = _Common(
            transaction_id=body.transaction_id,
            customer_id=cid,
            transaction_time=body.transaction_time,
            merchant=body.merchant,
            reason=body.reason,
        )
        entry = self._record(common, "Redemption", "-", points, amount, before)
        self.log.commit(body.transaction_id, cid, when)
        self._reversible[body.transaction_id] = Reversible(
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

    def refund(self, body: Refund) -> dict[str, Any]:
        """Undo a share of a payment, cashback or redeem: earned points go, redeemed return."""
        cid, refund_id = body.customer_id, body.refund_transaction_id
        when = self.log.check_new(cid, refund_id, "transactionTime", body.transaction_time)
        original = self._reversible.get(body.reverse_transaction_id)
        if original is None or original.customer_id != cid:
            message = f"Reversed transaction '{body.reverse_transaction_id}' was not found."
            raise GameballError(9005, message)
        remaining = original.amount - original.refunded_amount
        if original.closed:
            raise GameballError(9001, "The transaction has already been cancelled.")
        requested = _refund_amount(body, remaining)
        refunded = original.refunded_amount + requested
        share = 1.0 if refunded >= original.amount - _CENT else refunded / original.amount
        # Totals are floored on the cumulative share, so partial refunds never overshoot.
        cancel = math.floor(original.rewarded * share) - original.cancelled
        give_back = math.floor(original.redeemed * share) - original.returned
        common = _Common(
            transaction_id=refund_id,
            customer_id=cid,
            transaction_time=body.transaction_time,
            merchant=body.merchant,
        )
        entries = []
        if original.kind != "redeem":
            before = self.accounts.total(cid)
            self.accounts.cancel_earned(cid, cancel, source_id=body.reverse_transaction_id)
            entries.append(self._record(common, "Cancel", "-", cancel, requested, before))
        if original.kind == "redeem" or give_back > 0:
            before = self.accounts.total(cid)
            self.accounts.give_back(cid, give_back)
            entries.append(self._record(common, "Refund", "+", give_back, requested, before))
        self.log.commit(refund_id, cid, when)
        self._reversible[body.reverse_transaction_id] = msgspec.structs.replace(
            original,
            refunded_amount=refunded,
            cancelled=original.cancelled + cancel,
            returned=original.returned + give_back,
            closed=share == 1.0,
        )
        return {
            "gameballTransactionId": str(entries[0].gameball_id),
            "refundTransactionId": refund_id,
            "refundAmount": requested,
            "refundEquivalentPoints": give_back if original.kind == "redeem" else cancel,
        }

    def balance(self, customer_id: str) -> dict[str, Any]:
        return self.accounts.balance_body(customer_id)

    def _earn(self, common: _Common, points: int, amount: float, days: int) -> Entry:
        before = self.accounts.total(common.customer_id)
        self.accounts.credit(
            common.customer_id, points, source_id=common.transaction_id, days_pending=days
        )
        available_at = self._clock() + days * 86_400 if days > 0 and points > 0 else 0.0
        return self._record(common, "PaymentReward", "+", points, amount, before, available_at)

    def _record(
        self,
        common: _Common,
        kind: Literal["PaymentReward", "Redemption", "Cancel", "Refund"],
        direction: Literal["+", "-"],
        points: int,
        amount: float,
        before: int,
        available_at: float = 0.0,
    ) -> Entry:
        return self.log.append(
            transaction_id=common.transaction_id,
            type=kind,
            direction=direction,
            customer_id=common.customer_id,
            points=points,
            amount=amount,
            transaction_time=common.transaction_time,
            balance_before=before,
            balance_after=self.accounts.total(common.customer_id),
            available_at=available_at,
            merchant=common.merchant,
            channel=common.channel,
            reason=common.reason,
        )


class _Common(msgspec.Struct, frozen=True, kw_only=True):
    """Facts every ledger row of one call shares."""

    transaction_id: str
    customer_id: str
    transaction_time: str
    merchant: Merchant | None = None
    channel: str | None = None
    reason: str | None = None


def _refund_amount(body: Refund, remaining: float) -> float:
    """refundAmount if given, else the refunded line items' value, else everything left."""
    if body.refund_amount is not None:
        requested = body.refund_amount
    elif body.line_items:
        requested = sum(item.price * item.quantity for item in body.line_items)
    else:
        return round(remaining, 2)
    if requested > remaining + _CENT:
        raise invalid_value("refundAmount", f"exceeds the refundable amount {remaining:.2f}")
    return round(min(requested, remaining), 2)

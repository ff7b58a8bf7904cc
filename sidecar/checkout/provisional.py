"""Spending points while Gameball is unreachable, within the caps the merchant set: a
provisional hold, committed here before the answer and taken off the customer's last known
balance, held at Gameball only when the sale that burns it is replayed (or, for a redeem-now,
redeemed then). What slips through the caps is what the merchant chose to carry."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable

import msgspec

from .. import errors
from ..delivery.dispatcher import Dispatcher
from ..gameball.wire import GbBalance, GbMerchant
from ..store.holdbook import PROVISIONAL_PREFIX, HoldBook, HoldRow
from ..store.rows import NewItem
from ..timefmt import iso_ms
from .fields import fingerprint_of
from .models import HoldRequest
from .redemption import REDEEM_ID_PREFIX, redeem_id_for
from .replies import HoldAnswer, RedemptionAnswer, SaleAnswer

DAY = 86400.0


class Caps(msgspec.Struct, frozen=True, kw_only=True):
    max_points_per_checkout: int
    max_share_of_balance: float
    max_balance_age: float
    max_points_per_customer_per_day: int
    max_points_per_terminal_per_day: int


class OfflineRedemption:
    def __init__(
        self,
        *,
        caps: Caps,
        book: HoldBook,
        last_balance: Callable[[str], Awaitable[tuple[GbBalance, float] | None]],
        dispatcher: Dispatcher,
        merchant: GbMerchant,
        hold_ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self._caps = caps
        self._book = book
        self._last_balance = last_balance
        self._dispatcher = dispatcher
        self._merchant = msgspec.to_builtins(merchant)
        self._ttl = hold_ttl
        self._clock = clock
        # One provisional hold decided at a time: two checkouts must not both fit one cap.
        self._lock = asyncio.Lock()

    async def hold(self, request: HoldRequest, customer_id: str) -> HoldAnswer:
        """A provisional hold (and, with ``redeemNow``, its redemption queued), or the refusal
        naming the cap it would break."""
        redeem_id = redeem_id_for(request.transactionId or "") if request.redeemNow else None
        async with self._lock:
            now = self._clock()
            if redeem_id is not None and await self._book.by_redeem_id(redeem_id) is not None:
                raise errors.TransactionIdTaken(
                    f"transactionId {request.transactionId!r} was already redeemed on this "
                    "terminal; use the sale's own new id"
                )
            balance = await self._fresh_balance(customer_id, now)
            value = _point_value(balance)
            points = request.points or math.ceil((request.amount or 0) / value - 1e-9)
            await self._within_caps(customer_id, points, balance, now)
            reference = PROVISIONAL_PREFIX + uuid.uuid4().hex
            amount = round(points * value, 2)
            answer = HoldAnswer(
                holdReference=reference,
                customerId=customer_id,
                checkoutId=request.checkoutId,
                holdPoints=float(points),
                holdAmount=amount,
                state="used" if request.redeemNow else "active",
                stale=False,
                provisional=True,
                expiresAt=iso_ms(now + self._ttl),
                redemption=RedemptionAnswer(
                    transactionId=request.transactionId or "",
                    redeemedPoints=float(points),
                    redeemedAmount=amount,
                )
                if request.redeemNow
                else None,
            )
            await self._book.add(
                hold_reference=reference,
                checkout_id=request.checkoutId,
                fingerprint=fingerprint_of(request),
                customer_id=customer_id,
                hold_points=float(points),
                hold_amount=amount,
                state=answer.state,
                expires_at=now + self._ttl,
                answer=msgspec.json.encode(answer),
                now=now,
                redeem_id=redeem_id,
                provisional=True,
            )
        if redeem_id is not None:
            row = await self._book.by_reference(reference)
            assert row is not None
            await self.queue_redemption(row)
        return answer

    async def queue_redemption(self, row: HoldRow) -> None:
        """The redeem the till gave for a provisional redeem-now, stored like a sale: replayed
        as Gameball's redeem by points, exactly once (its transaction id), or recorded
        ``redemption_failed``. Idempotent, so a resend after a crash between the hold and this
        stores it then."""
        if row.redeem_id is None or row.claimed_by is not None:
            return
        now = self._clock()
        body = {
            "customerId": row.customer_id,
            "transactionId": row.redeem_id,
            "transactionTime": iso_ms(now),
            "points": int(row.hold_points),
            "merchant": self._merchant,
        }
        await self._dispatcher.submit(
            NewItem(
                kind="redeem",
                idem_key=f"redeem:{row.redeem_id.removeprefix(REDEEM_ID_PREFIX)}",
                fingerprint=bytes(row.fingerprint),
                customer_id=row.customer_id,
                body=msgspec.json.encode(body),
                tx_ms=int(now * 1000),
                hold_reference=row.hold_reference,
                hold_action="burn",
            ),
            check=None,
            budget=None,
            started=0.0,
        )

    async def _fresh_balance(self, customer_id: str, now: float) -> GbBalance:
        seen = await self._last_balance(customer_id)
        if seen is None or now - seen[1] > self._caps.max_balance_age:
            raise errors.OfflineRedemptionUnavailable(
                "Points cannot be redeemed while Gameball is unreachable without a recent "
                "balance for this customer; take the payment without redeeming points "
                "(earning still works)"
            )
        return seen[0]

    async def _within_caps(
        self, customer_id: str, points: int, balance: GbBalance, now: float
    ) -> None:
        caps = self._caps
        outstanding = (await self._book.outstanding(now, customer_id)).points
        if points > caps.max_points_per_checkout:
            _limit(f"max_points_per_checkout ({caps.max_points_per_checkout} points)")
        available = balance.availablePointsBalance
        if outstanding + points > available:
            raise errors.InsufficientPoints(
                f"The customer's last known balance has {max(0.0, available - outstanding):g} "
                "points left to spend on this terminal while Gameball is unreachable"
            )
        if outstanding + points > caps.max_share_of_balance * available:
            _limit(f"max_share_of_balance ({caps.max_share_of_balance:g} of {available:g} points)")
        spent = await self._book.spent_since(now - DAY, customer_id)
        if spent + points > caps.max_points_per_customer_per_day:
            _limit(f"max_points_per_customer_per_day ({caps.max_points_per_customer_per_day})")
        everyone = await self._book.spent_since(now - DAY)
        if everyone + points > caps.max_points_per_terminal_per_day:
            _limit(f"max_points_per_terminal_per_day ({caps.max_points_per_terminal_per_day})")


def _point_value(balance: GbBalance) -> float:
    """Money per point, from the balance Gameball last reported (0.1 if it showed none)."""
    if balance.availablePointsBalance > 0 and balance.availablePointsValue > 0:
        return balance.availablePointsValue / balance.availablePointsBalance
    if balance.totalPointsBalance > 0 and balance.totalPointsValue > 0:
        return balance.totalPointsValue / balance.totalPointsBalance
    return 0.1


def _limit(cap: str) -> None:
    raise errors.OfflineRedemptionLimit(
        f"This offline redemption would go past the merchant's cap {cap}; redeem fewer points "
        "or take the payment without redeeming"
    )


async def release_provisional(book: HoldBook, reference: str, now: float) -> SaleAnswer:
    """A provisional hold is given back here alone (Gameball never had it), unless a sale
    already burns it."""
    if not await book.release_locally(reference, now):
        row = await book.by_reference(reference)
        if row is not None and row.state != "released":
            raise errors.HoldAlreadyUsed(
                f"Hold {reference!r} is already being redeemed by a sale, so it cannot be released"
            )
    return SaleAnswer(status="delivered", holdReference=reference, outcome="released_here")

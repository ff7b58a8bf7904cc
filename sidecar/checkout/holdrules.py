"""The rules of a hold made on this terminal, and the one way a hold is asked of Gameball:
only its own customer may burn it, once; a hold a sale names is not given back under it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from .. import errors, ids
from ..delivery.pacing import Pacer, RateBudgetSpent, paced_call
from ..errors import GameballError, GameballRateLimited
from ..gameball.client import UpstreamClient
from ..gameball.paths import HOLD_PATH, hold_path
from ..gameball.wire import GbHold, GbHoldAnswer, GbHoldState
from ..store.holdbook import HoldRow, is_provisional
from ..store.rows import Admission, NewItem
from ..timefmt import TransactionClock, iso_ms, parse_gameball_time
from .models import HoldRequest
from .replies import HoldAnswer

_answer_decoder = msgspec.json.Decoder(HoldAnswer)


async def request_hold(
    upstream: UpstreamClient,
    transaction_clock: TransactionClock,
    customer_id: str,
    *,
    points: int | None = None,
    amount: float | None = None,
    otp: str | None = None,
    ignore_otp: bool | None = None,
    hash_: str | None = None,
    live: LiveBudget | None = None,
) -> GbHoldAnswer:
    """The one place a hold is asked of Gameball (at the till, and again at replay, which
    paced it already). ``live``: a cashier's hold, paced ahead of replay within its budget."""
    if live is not None:
        await live.acquire()
    body = GbHold(
        customerId=customer_id,
        transactionTime=transaction_clock.next(customer_id),
        pointsToHold=points,
        amountToHold=amount,
        otp=otp,
        ignoreOTP=ignore_otp,
        hash=hash_,
    )
    try:
        return await upstream.call("POST", HOLD_PATH, GbHoldAnswer, body=body)
    except GameballRateLimited as exc:
        if live is not None:
            live.pacer.rate_limited(exc.retry_after, live=True)
        raise


class LiveBudget:
    """A cashier's call on the account's rate budget: it goes before replay, and waits for a
    slot no later than ``deadline`` (UPSTREAM_BUSY past it: nothing was sent)."""

    def __init__(self, pacer: Pacer, deadline: float, timer: Callable[[], float]) -> None:
        self.pacer = pacer
        self._deadline = deadline
        self._timer = timer

    async def acquire(self) -> None:
        try:
            await self.pacer.acquire(live=True, within=max(0.0, self._deadline - self._timer()))
        except RateBudgetSpent:
            raise errors.UpstreamBusy(
                "Gameball's rate limit for this store's account is reached; try again in a "
                "moment, or take the payment without redeeming points"
            ) from None


async def hold_state(
    upstream: UpstreamClient,
    pacer: Pacer,
    reference: str,
    *,
    live: bool,
    within: float | None = None,
    report_429: bool = True,
) -> GbHoldState:
    """Gameball's view of one hold, asked on the account's rate budget (each look-up is a
    call of it, as the hold was)."""
    return await paced_call(
        pacer,
        upstream,
        "GET",
        hold_path(reference),
        GbHoldState,
        live=live,
        within=within,
        report_429=report_429,
    )


async def hold_expiry(
    upstream: UpstreamClient, pacer: Pacer, reference: str, *, fallback: float, within: float
) -> float:
    """Gameball's hold answer has no expiry: ask for it (``within`` seconds at most, on the
    rate budget like the hold), or assume ``fallback`` (the configured lifetime). Only when a
    slot is free now: the hold is made, and waiting for a slot to learn its expiry would spend
    the budget the cashier's sale (or the redeem at once) still needs."""
    if within <= 0.05:
        return fallback
    try:
        async with asyncio.timeout(within):
            state = await hold_state(upstream, pacer, reference, live=True, within=0.0)
    except (GameballError, TimeoutError):
        return fallback
    return parse_gameball_time(state.dateToExpire) or fallback


def may_burn(admission: Admission) -> None:
    """A sale may burn a hold, and a coupon lock, made on this terminal only for its own
    customer, and each only once; one made elsewhere (another till) is for Gameball to judge,
    but still burned by one stored sale at most."""
    _may_burn_hold(admission)
    _may_burn_lock(admission)


def _may_burn_lock(admission: Admission) -> None:
    lock, new = admission.lock, admission.new
    reference = new.lock_reference
    if reference is None or new.kind not in ("payment", "order"):
        return
    if lock is None:
        if admission.lock_named_by:
            raise errors.CouponLockAlreadyUsed(
                f"Coupon lock {reference!r} is already named by sale "
                f"{_sale_id(admission.lock_named_by)!r}; do not give the discount twice"
            )
        return
    if lock.customer_id != new.customer_id:
        raise errors.CouponLockBelongsToAnotherCustomer(
            f"Coupon lock {reference!r} was made for another customer; a sale may only redeem "
            "its own customer's coupons"
        )
    if lock.state == "released":
        raise errors.CouponLockReleased(
            f"Coupon lock {reference!r} was released; validate and lock the coupons again"
        )
    if lock.state == "used" or lock.claimed_by not in (None, new.idem_key):
        named = f" by sale {_sale_id(lock.claimed_by)!r}" if lock.claimed_by else ""
        raise errors.CouponLockAlreadyUsed(
            f"Coupon lock {reference!r} was already redeemed{named}; do not give the discount twice"
        )


def may_release_lock(admission: Admission) -> None:
    """Coupons a sale burns are not given back under it."""
    lock = admission.lock
    if lock is not None and (lock.state == "used" or lock.claimed_by):
        named = f" by sale {_sale_id(lock.claimed_by)!r}" if lock.claimed_by else ""
        raise errors.CouponLockAlreadyUsed(
            f"Coupon lock {admission.new.lock_reference!r} is already being redeemed{named}, so "
            "it cannot be released"
        )


def _may_burn_hold(admission: Admission) -> None:
    hold, new = admission.hold, admission.new
    if new.hold_action != "burn":
        return
    reference = new.hold_reference
    if hold is None:
        if admission.hold_named_by:
            raise errors.HoldAlreadyUsed(
                f"Hold {reference!r} is already named by sale "
                f"{_sale_id(admission.hold_named_by)!r}; do not give the discount twice"
            )
        if is_provisional(reference):
            # Only the terminal that made an offline hold can redeem it: mistyped, or forged.
            raise errors.HoldNotFound(
                f"Offline hold {reference!r} was not made on this terminal, so no sale here can "
                "redeem it; check the reference, or take the payment without points"
            )
        return
    if hold.customer_id != new.customer_id:
        raise errors.HoldBelongsToAnotherCustomer(
            f"Hold {reference!r} was made for another customer; a sale may only redeem the "
            "points its own customer held"
        )
    if hold.state in ("released", "failed"):
        raise errors.HoldReleased(
            f"Hold {reference!r} was released; hold the points again for this sale"
        )
    if hold.state in ("used", "redeeming") or hold.claimed_by not in (None, new.idem_key):
        named = f" by sale {_sale_id(hold.claimed_by)!r}" if hold.claimed_by else ""
        raise errors.HoldAlreadyUsed(
            f"Hold {reference!r} was already redeemed{named}; do not give the discount twice"
        )
    if hold.provisional and hold.expires_at is not None and hold.expires_at <= admission.now:
        # Its points left the offline caps when it lapsed: spending them now would pass them.
        raise errors.HoldExpired(
            f"Offline hold {reference!r} expired before the sale; hold the points again (the "
            "offline caps are checked again), or take the payment without points"
        )


def may_release(admission: Admission) -> None:
    """A hold a sale names (or a redemption is settling) is not given back under it."""
    hold = admission.hold
    if hold is not None and (hold.state in ("used", "redeeming") or hold.claimed_by):
        named = f" by sale {_sale_id(hold.claimed_by)!r}" if hold.claimed_by else ""
        raise errors.HoldAlreadyUsed(
            f"Hold {admission.new.hold_reference!r} is already being redeemed{named}, so it "
            "cannot be released"
        )


def release_item(reference: str, customer_id: str, *, hold_action: str | None = None) -> NewItem:
    return NewItem(
        kind="release",
        idem_key=f"release:{reference}",
        fingerprint=b"release",
        customer_id=customer_id,
        body=b"{}",
        hold_reference=reference,
        hold_action="release" if hold_action else None,
    )


def _sale_id(claimed_by: str | None) -> str:
    return (claimed_by or "").partition(":")[2]


def checked_request(request: HoldRequest) -> HoldRequest:
    """The request as the rest of the hold reads it: with a scanned pass split into the
    customer's id and its one-time hash (the last 6 characters), as Gameball's POS guide says."""
    if (request.customerId is None) == (request.scannedPass is None):
        raise errors.ValidationFailed.field(
            "$.customerId", "send exactly one of `customerId` or `scannedPass` (the scanned QR)"
        )
    if request.scannedPass is not None:
        customer_id, hash_ = request.scannedPass[:-6], request.scannedPass[-6:]
        if not hash_.isascii() or not hash_.isdigit() or not ids.is_valid(customer_id):
            raise errors.ValidationFailed.field(
                "$.scannedPass",
                "must be a customer id followed by the pass's 6-digit code, as scanned",
            )
        if request.hash is not None:
            raise errors.ValidationFailed.field(
                "$.hash", "a scanned pass carries its own hash; send one or the other"
            )
        request = msgspec.structs.replace(
            request, customerId=customer_id, hash=hash_, scannedPass=None
        )
    if (request.points is None) == (request.amount is None):
        raise errors.ValidationFailed.field(
            "$.points", "send exactly one of `points` or `amount` (the points to reserve)"
        )
    if request.redeemNow and not request.transactionId:
        raise errors.ValidationFailed.field(
            "$.transactionId", "required when `redeemNow` is true (the POS's sale id)"
        )
    return request


def answer_from_row(row: HoldRow, now: float, *, stale: bool, gone: bool = False) -> HoldAnswer:
    """What this terminal knows of a hold, as the till is told it."""
    state = {"failed": "released"}.get(row.state, row.state)
    if row.provisional and row.claimed_by and state == "active":
        state = "used"  # a queued sale burns it: it is redeemed at Gameball when that replays
    if state == "active" and (gone or (row.expires_at and row.expires_at <= now)):
        state = "expired"
    stored = _answer_decoder.decode(row.answer)
    return HoldAnswer(
        holdReference=row.hold_reference,
        customerId=row.customer_id,
        checkoutId=row.checkout_id,
        holdPoints=row.hold_points,
        holdAmount=row.hold_amount,
        state=state,  # type: ignore[arg-type]
        expiresAt=iso_ms(row.expires_at) if row.expires_at else None,
        stale=stale,
        asOf=iso_ms(row.updated_at) if stale else None,
        redemption=stored.redemption,
        provisional=bool(row.provisional),
    )

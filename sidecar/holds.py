"""Reserving points for a checkout (and redeeming them at once when asked), and reporting a
hold's state. Redemption cannot be verified offline, so these refuse fast instead of queueing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgspec

from . import errors
from .keyedlock import KeyedLocks
from .models import (
    GbHold,
    GbHoldAnswer,
    GbHoldState,
    GbMerchant,
    GbRedeem,
    GbRedeemAnswer,
    HoldAnswer,
    HoldRequest,
    RedemptionAnswer,
    as_number,
    fingerprint_of,
)
from .storage import HoldRow, Storage
from .timefmt import TransactionClock, iso_ms, parse_gameball_time
from .upstream import (
    HOLD_PATH,
    REDEEM_PATH,
    GameballError,
    GameballRejected,
    UpstreamClient,
    as_sidecar_error,
    hold_path,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

STATES = {"active", "used", "expired", "released"}
_answer_decoder = msgspec.json.Decoder(HoldAnswer)

OFFLINE = (
    "Points cannot be redeemed right now because Gameball cannot be reached; take the payment "
    "without redeeming points (earning still works), or try again in a moment"
)


class Holds:
    def __init__(
        self,
        *,
        storage: Storage,
        upstream: UpstreamClient,
        transaction_clock: TransactionClock,
        merchant: GbMerchant,
        budget: float,
        status_budget: float,
        default_ttl: float,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        release: Callable[[str, str], Coroutine[Any, Any, None]],
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage = storage
        self._upstream = upstream
        self._tx_clock = transaction_clock
        self._merchant = merchant
        self._budget = budget
        self._status_budget = status_budget
        self._default_ttl = default_ttl
        self._spawn = spawn
        self._release = release
        self._clock = clock
        self._timer = timer
        # One attempt per checkout at a time, so a double-clicked till cannot hold twice.
        self._locks = KeyedLocks()

    async def hold(self, request: HoldRequest) -> HoldAnswer:
        _check_hold_request(request)
        async with self._locks.hold(request.checkoutId):
            return await self._hold_once(request)

    async def _hold_once(self, request: HoldRequest) -> HoldAnswer:
        fingerprint = fingerprint_of(request)
        existing = await self._storage.hold_by_checkout(request.checkoutId)
        if existing is not None:
            if bytes(existing.fingerprint) != fingerprint:
                raise errors.IdempotencyConflict(
                    f"checkoutId {request.checkoutId!r} was already used for a different hold; "
                    "use a new checkoutId for a changed basket"
                )
            return _answer_decoder.decode(existing.answer)
        deadline = self._timer() + self._budget
        created = await self._create_within(deadline, request)
        reference = created.holdReference
        expires_at = await self._expiry(reference, deadline)
        redemption = None
        if request.redeemNow:
            redemption = await self._redeem_or_release(request, reference, deadline)
        answer = HoldAnswer(
            holdReference=reference,
            customerId=request.customerId,
            checkoutId=request.checkoutId,
            holdPoints=as_number(created.holdEquivalentPoints),
            holdAmount=as_number(created.holdAmount),
            state="used" if redemption else "active",
            stale=False,
            expiresAt=iso_ms(expires_at),
            redemption=redemption,
        )
        await self._storage.insert_hold(
            hold_reference=reference,
            checkout_id=request.checkoutId,
            fingerprint=fingerprint,
            customer_id=request.customerId,
            hold_points=answer.holdPoints,
            hold_amount=answer.holdAmount,
            state=answer.state,
            expires_at=expires_at,
            answer=msgspec.json.encode(answer),
            now=self._clock(),
        )
        return answer

    async def status(self, reference: str) -> HoldAnswer:
        row = await self._storage.hold_by_reference(reference)
        try:
            async with asyncio.timeout(self._status_budget):
                state = await self._upstream.call("GET", hold_path(reference), GbHoldState)
        except GameballRejected as exc:
            if exc.code == 9006 and row is not None:
                return self._from_row(row, stale=False, gone=True)
            raise as_sidecar_error(exc, subject="the hold lookup") from None
        except (GameballError, TimeoutError):
            if row is None:
                raise errors.HoldNotFound(
                    f"Hold {reference!r} is not known to this sidecar, and Gameball cannot be "
                    "reached to look it up"
                ) from None
            return self._from_row(row, stale=True)
        normalized = (state.state or "").strip().lower()
        expires_at = parse_gameball_time(state.dateToExpire)
        if row is not None and normalized in STATES:
            await self._storage.update_hold_state(reference, normalized, expires_at, self._clock())
        return HoldAnswer(
            holdReference=reference,
            customerId=state.customerId or (row.customer_id if row else ""),
            checkoutId=row.checkout_id if row else None,
            holdPoints=as_number(state.holdEquivalentPoints),
            holdAmount=as_number(state.holdAmount),
            state=normalized if normalized in STATES else "active",  # type: ignore[arg-type]
            stale=False,
            expiresAt=iso_ms(expires_at) if expires_at else None,
        )

    async def _create(self, request: HoldRequest) -> GbHoldAnswer:
        body = GbHold(
            customerId=request.customerId,
            transactionTime=self._tx_clock.next(request.customerId),
            pointsToHold=request.points,
            amountToHold=request.amount,
            otp=request.otp,
            ignoreOTP=request.ignoreOTP,
            hash=request.hash,
        )
        return await self._upstream.call("POST", HOLD_PATH, GbHoldAnswer, body=body)

    async def _expiry(self, reference: str, deadline: float) -> float:
        """Gameball's hold answer has no expiry; ask for it, or assume the configured lifetime."""
        fallback = self._clock() + self._default_ttl
        remaining = deadline - self._timer()
        if remaining <= 0.05:
            return fallback
        try:
            async with asyncio.timeout(remaining):
                state = await self._upstream.call("GET", hold_path(reference), GbHoldState)
        except (GameballError, TimeoutError):
            return fallback
        return parse_gameball_time(state.dateToExpire) or fallback

    async def _redeem_or_release(
        self, request: HoldRequest, reference: str, deadline: float
    ) -> RedemptionAnswer:
        assert request.transactionId is not None  # checked in _check_hold_request
        body = GbRedeem(
            customerId=request.customerId,
            transactionId=request.transactionId,
            transactionTime=self._tx_clock.next(request.customerId),
            holdReference=reference,
            merchant=self._merchant,
        )
        try:
            redeemed = await self._call_within(
                deadline, self._upstream.call("POST", REDEEM_PATH, GbRedeemAnswer, body=body)
            )
        except BaseException as exc:
            # Never leave the customer's points locked by a checkout that did not happen
            # (releasing a hold the redeem did burn is answered 9006, which is harmless).
            self._spawn(self._release(reference, request.customerId))
            if isinstance(exc, errors.SidecarError) and exc.upstream_code == 9004:
                # This sale's redemption landed on an earlier try whose answer was lost.
                return RedemptionAnswer(
                    transactionId=request.transactionId,
                    redeemedPoints=float(request.points or 0),
                    redeemedAmount=float(request.amount or 0),
                )
            raise
        return RedemptionAnswer(
            transactionId=request.transactionId,
            redeemedPoints=as_number(redeemed.redeemEquivalentPoints),
            redeemedAmount=as_number(redeemed.redeemAmount),
        )

    async def _create_within(self, deadline: float, request: HoldRequest) -> GbHoldAnswer:
        """Holds are not idempotent at Gameball: if the answer comes after the budget, the
        hold still exists, so the call is left to finish and its hold is then released."""
        task = asyncio.ensure_future(self._create(request))
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - self._timer()))
        if not done:
            self._spawn(self._release_when_made(task, request.customerId))
            raise errors.OfflineRedemptionUnavailable(OFFLINE)
        try:
            return task.result()
        except GameballRejected as exc:
            raise as_sidecar_error(exc, subject="the redemption") from None
        except GameballError:
            raise errors.OfflineRedemptionUnavailable(OFFLINE) from None

    async def _release_when_made(self, task: asyncio.Future[GbHoldAnswer], customer: str) -> None:
        try:
            created = await task
        except GameballError:
            return
        log.info("a hold answered after its budget; releasing it")
        await self._release(created.holdReference, customer)

    async def _call_within(self, deadline: float, call: Coroutine[Any, Any, T]) -> T:
        try:
            async with asyncio.timeout(max(0.0, deadline - self._timer())):
                return await call
        except GameballRejected as exc:
            raise as_sidecar_error(exc, subject="the redemption") from None
        except (GameballError, TimeoutError):
            raise errors.OfflineRedemptionUnavailable(OFFLINE) from None

    def _from_row(self, row: HoldRow, *, stale: bool, gone: bool = False) -> HoldAnswer:
        state = row.state
        if state == "active" and (gone or (row.expires_at and row.expires_at <= self._clock())):
            state = "expired"
        return HoldAnswer(
            holdReference=row.hold_reference,
            customerId=row.customer_id,
            checkoutId=row.checkout_id,
            holdPoints=row.hold_points,
            holdAmount=row.hold_amount,
            state=state,
            expiresAt=iso_ms(row.expires_at) if row.expires_at else None,
            stale=stale,
            asOf=iso_ms(row.updated_at) if stale else None,
        )


def _check_hold_request(request: HoldRequest) -> None:
    if (request.points is None) == (request.amount is None):
        raise errors.ValidationFailed.field(
            "$.points", "send exactly one of `points` or `amount` (the points to reserve)"
        )
    if request.redeemNow and not request.transactionId:
        raise errors.ValidationFailed.field(
            "$.transactionId", "required when `redeemNow` is true (the POS's sale id)"
        )

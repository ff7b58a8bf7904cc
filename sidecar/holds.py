"""Reserving points for a checkout (and redeeming them at once when asked), and reporting a
hold's state. Redemption cannot be verified offline, so these refuse fast instead of queueing;
a redemption whose answer was lost is settled by asking again, never by guessing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

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
from .storage import HoldRow, Storage, StorageError
from .timefmt import TransactionClock, iso_ms, parse_gameball_time
from .upstream import (
    HOLD_PATH,
    REDEEM_PATH,
    GameballAuthError,
    GameballError,
    GameballRejected,
    UpstreamClient,
    as_sidecar_error,
    hold_path,
)

log = logging.getLogger(__name__)

STATES = {"active", "used", "expired", "released"}
ID_EXISTS, HOLD_GONE = 9004, 9006
# Gameball keeps one namespace of transaction ids (payments, redeems, refunds): the redeem of a
# sale gets an id of its own, so it can never take the sale's paymentId.
REDEEM_ID_PREFIX = "redeem-"
SETTLE_RETRY_MAX = 60.0
_answer_decoder = msgspec.json.Decoder(HoldAnswer)

OFFLINE = (
    "Points cannot be redeemed right now because Gameball cannot be reached; take the payment "
    "without redeeming points (earning still works), or try again in a moment"
)
UNKNOWN = (
    "Gameball did not confirm whether the points were redeemed. Do not give the discount twice: "
    "resend the same request (same checkoutId) to learn the outcome; the sidecar keeps asking"
)


def redeem_id_for(transaction_id: str) -> str:
    return REDEEM_ID_PREFIX + transaction_id


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
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
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
        self._sleep = sleep
        # One attempt per checkout at a time, so a double-clicked till cannot hold twice.
        self._locks = KeyedLocks()
        self._settling: set[str] = set()

    async def hold(self, request: HoldRequest) -> HoldAnswer:
        _check_hold_request(request)
        async with self._locks.hold(request.checkoutId):
            return await self._hold_once(request)

    async def resume(self) -> None:
        """At start: redemptions whose outcome was still unknown are settled in the background."""
        for row in await self._storage.holds_redeeming():
            self._spawn(self._settle_later(row.hold_reference, row.checkout_id))

    async def _hold_once(self, request: HoldRequest) -> HoldAnswer:
        fingerprint = fingerprint_of(request)
        existing = await self._storage.hold_by_checkout(request.checkoutId)
        if existing is not None:
            if bytes(existing.fingerprint) != fingerprint:
                raise errors.IdempotencyConflict(
                    f"checkoutId {request.checkoutId!r} was already used for a different hold; "
                    "use a new checkoutId for a changed basket"
                )
            return await self._resent(existing)
        deadline = self._timer() + self._budget
        created = await self._create_within(deadline, request)
        reference = created.holdReference
        expires_at = await self._expiry(reference, deadline)
        answer = HoldAnswer(
            holdReference=reference,
            customerId=request.customerId,
            checkoutId=request.checkoutId,
            holdPoints=as_number(created.holdEquivalentPoints),
            holdAmount=as_number(created.holdAmount),
            state="redeeming" if request.redeemNow else "active",
            stale=False,
            expiresAt=iso_ms(expires_at),
        )
        redeem_id = redeem_id_for(request.transactionId or "") if request.redeemNow else None
        try:
            # Written before the redeem is sent: a crash in between is settled at the next start.
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
                redeem_id=redeem_id,
            )
        except StorageError as exc:
            self._spawn(self._release(reference, request.customerId))
            raise errors.StorageUnavailable(
                f"The hold could not be recorded on this terminal ({exc}), so it was given back; "
                "take the payment without redeeming points"
            ) from None
        if not request.redeemNow:
            return answer
        row = await self._storage.hold_by_reference(reference)
        assert row is not None
        return await self._settle(row, deadline, remember_failure=False)

    async def _resent(self, row: HoldRow) -> HoldAnswer:
        """The same checkout again: what is true of its hold now, not what was true then."""
        if row.state == "redeeming":
            return await self._settle(row, self._timer() + self._budget, remember_failure=True)
        if row.state == "failed":
            raise _stored_error(row)
        stored = _answer_decoder.decode(row.answer)
        current = await self.status(row.hold_reference)
        return msgspec.structs.replace(
            current, checkoutId=row.checkout_id, redemption=stored.redemption
        )

    async def status(self, reference: str) -> HoldAnswer:
        row = await self._storage.hold_by_reference(reference)
        try:
            async with asyncio.timeout(self._status_budget):
                state = await self._upstream.call("GET", hold_path(reference), GbHoldState)
        except GameballRejected as exc:
            if exc.code == HOLD_GONE and row is not None:
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
        if row is not None:
            if normalized in STATES:
                await self._storage.refresh_hold_state(
                    reference, normalized, expires_at, self._clock()
                )
            if row.state in ("used", "released", "redeeming", "failed"):
                # Known here for sure (a release may still be on its way to Gameball).
                return self._from_row(row, stale=False)
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

    async def _settle(self, row: HoldRow, deadline: float, *, remember_failure: bool) -> HoldAnswer:
        """Redeem the hold (again, with the same transaction id) until Gameball's answer says
        for sure whether it is redeemed; past the deadline say so and keep asking in the
        background. ``remember_failure``: the POS was told "unknown", so a definite "not
        redeemed" is kept for its resend."""
        uncertain = bool(row.redeem_uncertain)
        while (remaining := deadline - self._timer()) > 0.01:
            try:
                async with asyncio.timeout(remaining):
                    redeemed = await self._upstream.call(
                        "POST", REDEEM_PATH, GbRedeemAnswer, body=self._redeem_body(row)
                    )
            except GameballRejected as exc:
                if exc.transient and not isinstance(exc, GameballAuthError):
                    # 2001: our own earlier call may still be in progress at Gameball.
                    uncertain = await self._in_doubt(row, uncertain)
                    await self._sleep(min(0.2, max(0.0, deadline - self._timer())))
                    continue
                if exc.code == ID_EXISTS and uncertain:
                    return await self._redeemed(row, None)
                if exc.code == ID_EXISTS:
                    raise await self._not_redeemed(
                        row,
                        remember_failure,
                        errors.TransactionIdTaken(
                            f"Gameball already has a redemption for transactionId "
                            f"{_pos_id(row)!r}; use the sale's own new id (the hold was given "
                            "back)",
                            upstream_code=exc.code,
                        ),
                    ) from None
                if exc.code == HOLD_GONE and await self._hold_used(row, deadline):
                    return await self._redeemed(row, None)
                if uncertain and isinstance(exc, GameballAuthError):
                    break  # says nothing about the earlier call
                raise await self._not_redeemed(
                    row, remember_failure, as_sidecar_error(exc, subject="the redemption")
                ) from None
            except (GameballError, TimeoutError) as exc:
                if isinstance(exc, TimeoutError) or exc.outcome_unknown:
                    uncertain = await self._in_doubt(row, uncertain)
                if not uncertain:
                    # The call never reached Gameball: nothing was redeemed.
                    raise await self._not_redeemed(
                        row, remember_failure, errors.OfflineRedemptionUnavailable(OFFLINE)
                    ) from None
                if await self._hold_used(row, deadline):
                    return await self._redeemed(row, None)
                continue
            return await self._redeemed(row, redeemed)
        if not uncertain:
            raise await self._not_redeemed(
                row, remember_failure, errors.OfflineRedemptionUnavailable(OFFLINE)
            )
        if row.hold_reference not in self._settling:
            self._spawn(self._settle_later(row.hold_reference, row.checkout_id))
        raise errors.RedemptionOutcomeUnknown(UNKNOWN)

    async def _settle_later(self, reference: str, checkout_id: str) -> None:
        """Keep asking (backed off) until the lost redemption's outcome is known."""
        self._settling.add(reference)
        try:
            delay = 1.0
            while True:
                await self._sleep(delay)
                delay = min(SETTLE_RETRY_MAX, delay * 2)
                async with self._locks.hold(checkout_id):
                    row = await self._storage.hold_by_reference(reference)
                    if row is None or row.state != "redeeming":
                        return
                    try:
                        await self._settle(row, self._timer() + self._budget, remember_failure=True)
                    except errors.RedemptionOutcomeUnknown:
                        continue
                    except errors.SidecarError as exc:
                        log.info("a redemption in doubt is settled: not redeemed (%s)", exc.code)
                        return
                    except StorageError as exc:
                        log.warning("settling a redemption could not be recorded: %s", exc)
                        continue
                    log.info("a redemption in doubt is settled: redeemed")
                    return
        finally:
            self._settling.discard(reference)

    async def _in_doubt(self, row: HoldRow, already: bool) -> bool:
        if not already:
            await self._storage.mark_redeem_uncertain(row.hold_reference, self._clock())
        return True

    async def _hold_used(self, row: HoldRow, deadline: float) -> bool:
        """Is the hold burned? Only this checkout's redeem can have burned it: a sale naming
        a hold that is being redeemed is refused."""
        remaining = deadline - self._timer()
        if remaining <= 0.01:
            return False
        try:
            async with asyncio.timeout(remaining):
                state = await self._upstream.call("GET", hold_path(row.hold_reference), GbHoldState)
        except (GameballError, TimeoutError):
            return False
        return (state.state or "").strip().lower() == "used"

    async def _redeemed(self, row: HoldRow, answer: GbRedeemAnswer | None) -> HoldAnswer:
        stored = _answer_decoder.decode(row.answer)
        redemption = RedemptionAnswer(
            transactionId=_pos_id(row),
            redeemedPoints=as_number(answer.redeemEquivalentPoints) if answer else row.hold_points,
            redeemedAmount=as_number(answer.redeemAmount) if answer else row.hold_amount,
        )
        settled = msgspec.structs.replace(stored, state="used", redemption=redemption)
        await self._storage.settle_hold(
            row.hold_reference,
            state="used",
            answer=msgspec.json.encode(settled),
            error=None,
            now=self._clock(),
        )
        return settled

    async def _not_redeemed(
        self, row: HoldRow, remember: bool, error: errors.SidecarError
    ) -> errors.SidecarError:
        """Nothing was redeemed: give the points back, and either forget the checkout (the POS
        hears the refusal now and may try again) or keep the refusal for the resend it was
        told to make. Returns the error for the caller to raise."""
        self._spawn(self._release(row.hold_reference, row.customer_id))
        if remember:
            refusal = StoredRefusal(
                status=error.status,
                code=error.code,
                message=error.message,
                retryable=error.retryable,
                upstreamCode=error.upstream_code,
            )
            await self._storage.settle_hold(
                row.hold_reference,
                state="failed",
                answer=row.answer,
                error=msgspec.json.encode(refusal),
                now=self._clock(),
            )
        else:
            await self._storage.delete_hold(row.hold_reference)
        return error

    def _redeem_body(self, row: HoldRow) -> GbRedeem:
        return GbRedeem(
            customerId=row.customer_id,
            transactionId=row.redeem_id or "",
            transactionTime=self._tx_clock.next(row.customer_id),
            holdReference=row.hold_reference,
            merchant=self._merchant,
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

    def _from_row(self, row: HoldRow, *, stale: bool, gone: bool = False) -> HoldAnswer:
        state = {"failed": "released"}.get(row.state, row.state)
        if state == "active" and (gone or (row.expires_at and row.expires_at <= self._clock())):
            state = "expired"
        stored = _answer_decoder.decode(row.answer)
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
            redemption=stored.redemption,
        )


def _pos_id(row: HoldRow) -> str:
    return (row.redeem_id or "").removeprefix(REDEEM_ID_PREFIX)


class StoredRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """A settled "not redeemed", kept so that the resend the POS was asked for learns it."""

    status: int
    code: str
    message: str
    retryable: bool
    upstreamCode: int | None = None


def _stored_error(row: HoldRow) -> errors.SidecarError:
    refusal = msgspec.json.decode(row.error or b"{}", type=StoredRefusal)
    error = errors.SidecarError(
        refusal.message, upstream_code=refusal.upstreamCode, code=refusal.code
    )
    error.status, error.retryable = refusal.status, refusal.retryable
    return error


def _check_hold_request(request: HoldRequest) -> None:
    if (request.points is None) == (request.amount is None):
        raise errors.ValidationFailed.field(
            "$.points", "send exactly one of `points` or `amount` (the points to reserve)"
        )
    if request.redeemNow and not request.transactionId:
        raise errors.ValidationFailed.field(
            "$.transactionId", "required when `redeemNow` is true (the POS's sale id)"
        )

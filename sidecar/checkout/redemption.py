"""Redeeming a hold at once (``redeemNow``) and settling a redemption whose answer was lost: by
asking again with the same transaction id until Gameball's answer says for sure, never by
guessing; meanwhile the cashier is told the outcome is unknown, and the resend learns it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from .. import errors
from ..delivery.pacing import Pacer, RateBudgetSpent
from ..errors import GameballAuthError, GameballError, GameballRateLimited, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.codes import Code, for_cashier
from ..gameball.paths import REDEEM_PATH
from ..gameball.wire import GbMerchant, GbRedeem, GbRedeemAnswer, as_number
from ..store.holdbook import HoldBook, HoldRow
from ..timefmt import TransactionClock
from .holdrules import hold_state
from .keyedlock import KeyedLocks
from .replies import HoldAnswer, RedemptionAnswer

log = logging.getLogger(__name__)

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


class StoredRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """A settled "not redeemed", kept so that the resend the POS was asked for learns it."""

    status: int
    code: str
    message: str
    retryable: bool
    upstreamCode: int | None = None


class Redeemer:
    def __init__(
        self,
        *,
        book: HoldBook,
        upstream: UpstreamClient,
        transaction_clock: TransactionClock,
        merchant: GbMerchant,
        pacer: Pacer,
        budget: float,
        locks: KeyedLocks,
        spawn: Callable[[Coroutine[Any, Any, None]], Awaitable[object]],
        release: Callable[[str, str], Coroutine[Any, Any, None]],
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        self._book = book
        self._upstream = upstream
        self._tx_clock = transaction_clock
        self._merchant = merchant
        self._pacer = pacer
        self._budget = budget
        self._locks = locks
        self._spawn = spawn
        self._release = release
        self._clock = clock
        self._timer = timer
        self._sleep = sleep
        self._settling: set[str] = set()

    async def resume(self) -> None:
        """At start: redemptions whose outcome was still unknown are settled in the background."""
        for row in await self._book.redeeming():
            await self._spawn(self._settle_later(row.hold_reference, row.checkout_id))

    async def settle(
        self, row: HoldRow, deadline: float, *, remember_failure: bool, live: bool = True
    ) -> HoldAnswer:
        """Redeem the hold (again, with the same transaction id) until Gameball's answer says
        for sure whether it is redeemed; past the deadline say so and keep asking in the
        background. ``remember_failure``: the POS was told "unknown", so a definite "not
        redeemed" is kept for its resend. ``live``: a cashier waits (paced before replay)."""
        uncertain = bool(row.redeem_uncertain)
        while (remaining := deadline - self._timer()) > 0.01:
            try:
                await self._pacer.acquire(live=live, within=remaining)
            except RateBudgetSpent:
                break  # no slot in the account's rate budget in time: as past the deadline
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
                if exc.code == Code.ID_EXISTS and uncertain:
                    # Our lost redeem, or another call with this id? Ours burned the hold.
                    state = await self._hold_state(row, deadline, live)
                    if state == "used":
                        return await self._redeemed(row, None)
                    if state is None:
                        await self._sleep(min(0.2, max(0.0, deadline - self._timer())))
                        continue
                if exc.code == Code.ID_EXISTS:
                    taken = errors.TransactionIdTaken(
                        f"Gameball already has a redemption for transactionId {_pos_id(row)!r}; "
                        "use the sale's own new id (the hold was given back)",
                        upstream_code=exc.code,
                    )
                    raise await self._not_redeemed(row, remember_failure, taken) from None
                if exc.code == Code.HOLD_NOT_FOUND:
                    state = await self._hold_state(row, deadline, live)
                    if state == "used":
                        return await self._redeemed(row, None)
                    if state is None and uncertain:
                        break  # our lost redeem may have burned it: not known yet
                if uncertain and isinstance(exc, GameballAuthError):
                    break  # says nothing about the earlier call
                refused = for_cashier(exc, subject="the redemption")
                raise await self._not_redeemed(row, remember_failure, refused) from None
            except (GameballError, TimeoutError) as exc:
                if isinstance(exc, GameballRateLimited):
                    self._pacer.rate_limited(exc.retry_after, live=live)
                if isinstance(exc, TimeoutError) or exc.outcome_unknown:
                    uncertain = await self._in_doubt(row, uncertain)
                if not uncertain:
                    # The call never reached Gameball: nothing was redeemed.
                    offline = errors.OfflineRedemptionUnavailable(OFFLINE)
                    raise await self._not_redeemed(row, remember_failure, offline) from None
                if await self._hold_state(row, deadline, live) == "used":
                    return await self._redeemed(row, None)
                continue
            return await self._redeemed(row, redeemed)
        if not uncertain:
            offline = errors.OfflineRedemptionUnavailable(OFFLINE)
            raise await self._not_redeemed(row, remember_failure, offline)
        if row.hold_reference not in self._settling:
            await self._spawn(self._settle_later(row.hold_reference, row.checkout_id))
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
                    row = await self._book.by_reference(reference)
                    if row is None or row.state != "redeeming":
                        return
                    try:
                        deadline = self._timer() + self._budget
                        await self.settle(row, deadline, remember_failure=True, live=False)
                    except errors.RedemptionOutcomeUnknown:
                        continue
                    except errors.ApiError as exc:
                        log.info("a redemption in doubt is settled: not redeemed (%s)", exc.code)
                        return
                    except errors.StorageError as exc:
                        log.warning("settling a redemption could not be recorded: %s", exc)
                        continue
                    log.info("a redemption in doubt is settled: redeemed")
                    return
        finally:
            self._settling.discard(reference)

    async def _in_doubt(self, row: HoldRow, already: bool) -> bool:
        if not already:
            await self._book.mark_redeem_uncertain(row.hold_reference, self._clock())
        return True

    async def _hold_state(self, row: HoldRow, deadline: float, live: bool) -> str | None:
        """The hold's state at Gameball ("used" means burned), None when it cannot be asked.
        Only this checkout's redeem can have burned it: a sale naming a hold that is being
        redeemed is refused."""
        remaining = deadline - self._timer()
        if remaining <= 0.01:
            return None
        try:
            async with asyncio.timeout(remaining):
                state = await hold_state(
                    self._upstream, self._pacer, row.hold_reference, live=live, within=remaining
                )
        except GameballRejected as exc:
            return "gone" if exc.code == Code.HOLD_NOT_FOUND else None
        except (GameballError, TimeoutError):
            return None
        return (state.state or "").strip().lower()

    async def _redeemed(self, row: HoldRow, answer: GbRedeemAnswer | None) -> HoldAnswer:
        stored = _answer_decoder.decode(row.answer)
        redemption = RedemptionAnswer(
            transactionId=_pos_id(row),
            redeemedPoints=as_number(answer.redeemEquivalentPoints) if answer else row.hold_points,
            redeemedAmount=as_number(answer.redeemAmount) if answer else row.hold_amount,
        )
        settled = msgspec.structs.replace(stored, state="used", redemption=redemption)
        await self._book.settle(
            row.hold_reference,
            state="used",
            answer=msgspec.json.encode(settled),
            error=None,
            now=self._clock(),
        )
        return settled

    async def _not_redeemed(
        self, row: HoldRow, remember: bool, error: errors.ApiError
    ) -> errors.ApiError:
        """Nothing was redeemed: give the points back, and either forget the checkout (the POS
        hears the refusal now and may try again) or keep the refusal for the resend it was
        told to make. Returns the error for the caller to raise."""
        await self._spawn(self._release(row.hold_reference, row.customer_id))
        if remember:
            refusal = StoredRefusal(
                status=error.status,
                code=error.code,
                message=error.message,
                retryable=error.retryable,
                upstreamCode=error.upstream_code,
            )
            await self._book.settle(
                row.hold_reference,
                state="failed",
                answer=row.answer,
                error=msgspec.json.encode(refusal),
                now=self._clock(),
            )
        else:
            await self._book.forget(row.hold_reference)
        return error

    def _redeem_body(self, row: HoldRow) -> GbRedeem:
        return GbRedeem(
            customerId=row.customer_id,
            transactionId=row.redeem_id or "",
            transactionTime=self._tx_clock.next(row.customer_id),
            holdReference=row.hold_reference,
            merchant=self._merchant,
        )


def stored_refusal(row: HoldRow) -> errors.ApiError:
    """The settled "not redeemed" of a checkout, as the error its resend hears."""
    refusal = msgspec.json.decode(row.error or b"{}", type=StoredRefusal)
    error = errors.ApiError(refusal.message, upstream_code=refusal.upstreamCode, code=refusal.code)
    error.status, error.retryable = refusal.status, refusal.retryable
    return error


def _pos_id(row: HoldRow) -> str:
    return (row.redeem_id or "").removeprefix(REDEEM_ID_PREFIX)

"""Holds, the one owner of their rules: reserving points for a checkout (and redeeming them at
once when asked), a hold's state, giving a hold back, and who may burn one: only its own
customer, once. Redemption cannot be verified offline, so a hold refuses fast instead of
queueing; a release is queued, since releasing late is safe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from .. import errors
from ..clocks import REAL, Clocks
from ..delivery.dispatcher import Dispatcher
from ..delivery.pacing import Pacer, RateBudgetSpent
from ..errors import GameballError, GameballRateLimited, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.codes import Code, for_cashier
from ..gameball.wire import GbHoldAnswer, GbMerchant, as_number
from ..store.holdbook import HoldBook, HoldRow
from ..timefmt import TransactionClock, iso_ms, parse_gameball_time
from .answers import answer_for
from .fields import fingerprint_of
from .holdrules import (
    LiveBudget,
    answer_from_row,
    checked_request,
    hold_expiry,
    hold_state,
    may_release,
    release_item,
    request_hold,
)
from .keyedlock import KeyedLocks
from .models import HoldRequest
from .provisional import OfflineRedemption, release_provisional
from .redemption import OFFLINE, Redeemer, redeem_id_for, stored_refusal
from .replies import HoldAnswer, SaleAnswer

log = logging.getLogger(__name__)

STATES = {"active", "used", "expired", "released"}
# States this terminal knows for sure, whatever Gameball reports a moment before it hears.
KNOWN_HERE = ("used", "released", "redeeming", "failed")
_answer_decoder = msgspec.json.Decoder(HoldAnswer)


class HoldBudgets(msgspec.Struct, frozen=True, kw_only=True):
    hold: float  # create (and redeem)
    status: float  # look one up
    release: float  # wait for a release's answer before saying "queued"


class Holds:
    def __init__(
        self,
        *,
        book: HoldBook,
        upstream: UpstreamClient,
        dispatcher: Dispatcher,
        pacer: Pacer,
        transaction_clock: TransactionClock,
        merchant: GbMerchant,
        budgets: HoldBudgets,
        default_ttl: float,
        spawn: Callable[[Coroutine[Any, Any, None]], Awaitable[object]],
        offline: OfflineRedemption | None = None,
        clocks: Clocks = REAL,
    ) -> None:
        """``offline``: provisional holds while Gameball is unreachable (off when None)."""
        self._book = book
        self._offline = offline
        self._upstream = upstream
        self._dispatcher = dispatcher
        self._pacer = pacer
        self._tx_clock = transaction_clock
        self._budgets = budgets
        self._default_ttl = default_ttl
        self._spawn = spawn
        self._clock = clocks.clock
        self._timer = clocks.timer
        # One attempt per checkout at a time, so a double-clicked till cannot hold twice.
        self._locks = KeyedLocks()
        self._redeemer = Redeemer(
            book=book,
            upstream=upstream,
            transaction_clock=transaction_clock,
            merchant=merchant,
            pacer=pacer,
            budget=budgets.hold,
            locks=self._locks,
            spawn=spawn,
            release=self.release_orphan,
            clock=clocks.clock,
            timer=clocks.timer,
            sleep=clocks.sleep,
        )

    async def resume(self) -> None:
        await self._redeemer.resume()

    async def hold(self, request: HoldRequest) -> HoldAnswer:
        request = checked_request(request)
        async with self._locks.hold(request.checkoutId):
            return await self._hold_once(request)

    async def status(self, reference: str) -> HoldAnswer:
        row = await self._book.by_reference(reference)
        if row is not None and row.provisional:
            return answer_from_row(row, self._clock(), stale=False)  # Gameball never had it
        try:
            async with asyncio.timeout(within := self._budgets.status):
                state = await hold_state(
                    self._upstream, self._pacer, reference, live=True, within=within
                )
        except GameballRejected as exc:
            if exc.code == Code.HOLD_NOT_FOUND and row is not None:
                return answer_from_row(row, self._clock(), stale=False, gone=True)
            if row is not None:
                # A refused lookup says nothing about the hold: what this terminal knows.
                return answer_from_row(row, self._clock(), stale=True)
            raise for_cashier(exc, subject="the hold lookup") from None
        except (GameballError, TimeoutError) as exc:
            if row is not None:
                return answer_from_row(row, self._clock(), stale=True)
            unknown = f"Hold {reference!r} is not known to this sidecar, and "
            if isinstance(exc, RateBudgetSpent | GameballRateLimited):
                # A 429 says nothing about the hold: "ask again", never "not found".
                raise errors.UpstreamBusy(
                    f"{unknown}Gameball's rate limit for this store's account is reached; look "
                    "it up again in a moment"
                ) from None
            unreachable = f"{unknown}Gameball cannot be reached to look it up"
            raise errors.HoldNotFound(unreachable) from None
        normalized = (state.state or "").strip().lower()
        expires_at = parse_gameball_time(state.dateToExpire)
        if row is not None:
            if normalized in STATES:
                await self._book.refresh(reference, normalized, expires_at, self._clock())
            if row.state in KNOWN_HERE:
                # Known here for sure (a release may still be on its way to Gameball).
                return answer_from_row(row, self._clock(), stale=False)
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

    async def release(self, reference: str) -> SaleAnswer:
        """The basket was abandoned: give the points back (queued, durably)."""
        started = self._timer()
        hold = await self._book.by_reference(reference)
        if hold is None:
            raise errors.HoldNotFound(
                f"Hold {reference!r} was not made through this sidecar, so it cannot be released "
                "here; check the reference"
            )
        if hold.provisional:
            return await release_provisional(self._book, reference, self._clock())
        stored = await self._dispatcher.submit(
            release_item(reference, hold.customer_id, hold_action="release"),
            check=may_release,
            budget=self._budgets.release,
            started=started,
        )
        return answer_for(stored.item)

    async def release_orphan(self, reference: str, customer_id: str) -> None:
        """A hold whose checkout failed: release it durably, in the background."""
        try:
            await self._dispatcher.submit(
                release_item(reference, customer_id),
                check=None,
                budget=None,
                started=self._timer(),
            )
        except errors.SidecarException as exc:
            log.warning("hold %s not queued for release (%s); it lapses at expiry", reference, exc)

    async def _hold_once(self, request: HoldRequest) -> HoldAnswer:
        customer_id = request.customerId
        assert customer_id is not None  # _checked: a customer id, or one from the pass
        fingerprint = fingerprint_of(request)
        existing = await self._book.by_checkout(request.checkoutId)
        if existing is not None:
            if bytes(existing.fingerprint) != fingerprint:
                raise errors.IdempotencyConflict(
                    f"checkoutId {request.checkoutId!r} was already used for a different hold; "
                    "use a new checkoutId for a changed basket"
                )
            return await self._resent(existing)
        deadline = self._timer() + self._budgets.hold
        try:
            created = await self._create_within(deadline, request, customer_id)
        except errors.OfflineRedemptionUnavailable:
            if self._offline is None:
                raise
            return await self._offline.hold(request, customer_id)
        reference = created.holdReference
        expires_at = await hold_expiry(
            self._upstream,
            self._pacer,
            reference,
            fallback=self._clock() + self._default_ttl,
            # Not for a hold redeemed at once: its redeem needs the slot, and it lapses unused.
            within=0.0 if request.redeemNow else deadline - self._timer(),
        )
        answer = HoldAnswer(
            holdReference=reference,
            customerId=customer_id,
            checkoutId=request.checkoutId,
            holdPoints=as_number(created.holdEquivalentPoints),
            holdAmount=as_number(created.holdAmount),
            state="redeeming" if request.redeemNow else "active",
            stale=False,
            expiresAt=iso_ms(expires_at),
        )
        try:
            # Written before the redeem is sent: a crash in between is settled at the next start.
            await self._book.add(
                hold_reference=reference,
                checkout_id=request.checkoutId,
                fingerprint=fingerprint,
                customer_id=customer_id,
                hold_points=answer.holdPoints,
                hold_amount=answer.holdAmount,
                state=answer.state,
                expires_at=expires_at,
                answer=msgspec.json.encode(answer),
                now=self._clock(),
                redeem_id=redeem_id_for(request.transactionId or "") if request.redeemNow else None,
            )
        except errors.StorageError as exc:
            await self._spawn(self.release_orphan(reference, customer_id))
            raise errors.StorageUnavailable(
                f"The hold could not be recorded on this terminal ({exc}), so it was given back; "
                "take the payment without redeeming points"
            ) from None
        if not request.redeemNow:
            return answer
        row = await self._book.by_reference(reference)
        assert row is not None
        return await self._redeemer.settle(row, deadline, remember_failure=False)

    async def _resent(self, row: HoldRow) -> HoldAnswer:
        """The same checkout again: what is true of its hold now, not what was true then."""
        if row.provisional:
            if self._offline is not None:
                await self._offline.queue_redemption(row)
            return answer_from_row(row, self._clock(), stale=False)
        if row.state == "redeeming":
            deadline = self._timer() + self._budgets.hold
            return await self._redeemer.settle(row, deadline, remember_failure=True)
        if row.state == "failed":
            raise stored_refusal(row)
        stored = _answer_decoder.decode(row.answer)
        current = await self.status(row.hold_reference)
        return msgspec.structs.replace(
            current, checkoutId=row.checkout_id, redemption=stored.redemption
        )

    async def _create_within(
        self, deadline: float, request: HoldRequest, customer_id: str
    ) -> GbHoldAnswer:
        """Holds are not idempotent at Gameball: if the answer comes after the budget, the
        hold still exists, so the call is left to finish and its hold is then released."""
        task = asyncio.ensure_future(
            request_hold(
                self._upstream,
                self._tx_clock,
                customer_id,
                points=request.points,
                amount=request.amount,
                otp=request.otp,
                ignore_otp=request.ignoreOTP,
                hash_=request.hash,
                live=LiveBudget(self._pacer, deadline, self._timer),
            )
        )
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - self._timer()))
        if not done:
            await self._spawn(self._release_when_made(task, customer_id))
            raise errors.OfflineRedemptionUnavailable(OFFLINE)
        try:
            return task.result()
        except GameballRejected as exc:
            raise for_cashier(exc, subject="the redemption") from None
        except GameballError:
            raise errors.OfflineRedemptionUnavailable(OFFLINE) from None

    async def _release_when_made(self, task: asyncio.Future[GbHoldAnswer], customer: str) -> None:
        try:
            created = await task
        except (GameballError, errors.UpstreamBusy):  # never made
            return
        log.info("a hold answered after its budget; releasing it")
        await self.release_orphan(created.holdReference, customer)

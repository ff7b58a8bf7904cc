"""Coupons at the counter: validating codes for a basket (and locking them for this checkout),
which Gameball alone can judge, so it is refused at once while Gameball is unreachable; and
giving a lock back, which is safe to send late, so it is queued."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from .. import errors
from ..errors import GameballAuthError, GameballError, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.codes import Code, for_cashier
from ..gameball.paths import COUPONS_VALIDATE_PATH
from ..gameball.wire import GbCouponValidation, GbCouponValidationAnswer
from ..store.couponbook import CouponBook
from ..store.rows import NewItem
from ..timefmt import iso_ms, parse_gameball_time
from .holdrules import may_release_lock
from .models import CouponRequest
from .queueing import Submitter
from .replies import CouponAnswer, SaleAnswer

log = logging.getLogger(__name__)

OFFLINE = (
    "Coupons cannot be checked right now because Gameball cannot be reached; finish the sale "
    "without the coupon, or try again in a moment"
)
# Gameball keeps a lock 10 minutes unless told otherwise; used when it does not say.
DEFAULT_LOCK_SECONDS = 600.0


class Coupons:
    def __init__(
        self,
        *,
        book: CouponBook,
        upstream: UpstreamClient,
        submitter: Submitter,
        budget: float,
        spawn: Callable[[Coroutine[Any, Any, None]], Awaitable[object]],
    ) -> None:
        self._book = book
        self._spawn = spawn
        self._upstream = upstream
        self._submitter = submitter
        self._budget = budget

    async def validate(self, request: CouponRequest) -> CouponAnswer:
        body = GbCouponValidation(
            customerId=request.customerId,
            coupons=request.coupons,
            lock=request.lock or None,
            lockDuration=request.lockDuration,
            totalPurchaseAmount=request.totalPurchaseAmount,
        )
        # A lock is not idempotent at Gameball: if the answer comes after the budget, the lock
        # still exists, so the call is left to finish and its lock is then given back.
        task = asyncio.ensure_future(
            self._upstream.call("POST", COUPONS_VALIDATE_PATH, GbCouponValidationAnswer, body=body)
        )
        done, _ = await asyncio.wait({task}, timeout=self._budget)
        if not done:
            await self._spawn(self._release_when_made(task, request.customerId))
            raise errors.OfflineCouponsUnavailable(OFFLINE)
        try:
            answer = task.result()
        except GameballRejected as exc:
            if exc.transient:
                raise errors.OfflineCouponsUnavailable(OFFLINE) from None
            if isinstance(exc, GameballAuthError) or exc.code == Code.CUSTOMER_NOT_FOUND:
                raise for_cashier(exc, subject="the coupons") from None
            # Unknown, expired, used up, below its minimum, another customer's ...
            raise errors.CouponRefused(
                f"Gameball will not apply the coupon(s): {exc.message}", upstream_code=exc.code
            ) from None
        except GameballError:
            raise errors.OfflineCouponsUnavailable(OFFLINE) from None
        expires_at = None
        if answer.lockReference:
            now = self._submitter.clock()
            expires_at = parse_gameball_time(answer.dateToExpire) or now + DEFAULT_LOCK_SECONDS
            try:
                await self._book.add(
                    lock_reference=answer.lockReference,
                    customer_id=request.customerId,
                    codes=request.coupons,
                    expires_at=expires_at,
                    now=now,
                )
            except errors.StorageError as exc:
                # Without the local record the lock cannot be checked or released here: give it
                # back rather than leave coupons locked that no sale can burn.
                await self._release_quietly(answer.lockReference, request.customerId)
                raise errors.StorageUnavailable(
                    f"The coupon lock could not be recorded on this terminal ({exc}), so it was "
                    "given back; finish the sale without the coupon"
                ) from None
        return CouponAnswer(
            valid=answer.valid if answer.valid is not None else True,
            customerId=request.customerId,
            coupons=answer.coupons or [],
            lockReference=answer.lockReference,
            expiresAt=iso_ms(expires_at) if expires_at else None,
        )

    async def release(self, lock_reference: str) -> SaleAnswer:
        started = self._submitter.timer()
        lock = await self._book.by_reference(lock_reference)
        if lock is None:
            raise errors.CouponLockNotFound(
                f"Coupon lock {lock_reference!r} was not made through this sidecar, so it cannot "
                "be released here; check the reference"
            )
        return await self._submitter.submit(
            _release_item(lock_reference, lock.customer_id),
            what="this release",
            started=started,
            rules=may_release_lock,
            limited=False,
        )

    async def _release_when_made(
        self, task: asyncio.Future[GbCouponValidationAnswer], customer_id: str
    ) -> None:
        try:
            answer = await task
        except GameballError:
            return
        if answer.lockReference:
            log.info("a coupon lock answered after its budget; releasing it")
            await self._release_quietly(answer.lockReference, customer_id)

    async def _release_quietly(self, lock_reference: str, customer_id: str) -> None:
        try:
            await self._submitter.submit(
                _release_item(lock_reference, customer_id),
                what="this release",
                started=self._submitter.timer(),
                rules=lambda _admission: None,
                limited=False,
            )
        except errors.SidecarException as exc:
            log.warning("coupon lock not queued for release (%s); it lapses at expiry", exc)


def _release_item(lock_reference: str, customer_id: str) -> NewItem:
    return NewItem(
        kind="coupon_release",
        idem_key=f"coupon_release:{lock_reference}",
        fingerprint=msgspec.json.encode(["coupon_release", lock_reference]),
        customer_id=customer_id,
        body=b"{}",
        lock_reference=lock_reference,
    )

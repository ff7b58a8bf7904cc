"""Sends one outbox row to Gameball and records what became of it, classifying every answer:
delivered, already applied (9004/9001), retry later with backoff, pause everything (429),
configuration alarm (1000-1002), expired hold (re-hold, or earn only), or dead letter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import backoff
import msgspec

from .models import (
    GbHold,
    GbHoldAnswer,
    GbHoldState,
    GbPaymentAnswer,
    GbRefundAnswer,
    as_number,
)
from .outbox import Item, Outbox
from .pacing import Pacer
from .storage import Storage, StorageError
from .timefmt import TransactionClock
from .upstream import (
    HOLD_PATH,
    PAYMENTS_PATH,
    REFUND_PATH,
    GameballAuthError,
    GameballError,
    GameballRateLimited,
    GameballRejected,
    UpstreamClient,
    hold_path,
)

log = logging.getLogger(__name__)

Verdict = Literal["delivered", "retry", "paused", "alarm", "dead"]
ID_EXISTS = 9004
ALREADY_CANCELLED = 9001
ALREADY_APPLIED = {ID_EXISTS, ALREADY_CANCELLED}
HOLD_GONE = 9006
REFUND_BEFORE_PAYMENT = 9005
PATHS = {"payment": PAYMENTS_PATH, "refund": REFUND_PATH}


class Alarm:
    """A configuration problem (Gameball refused our keys): sending stops until it clears."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.message: str | None = None
        self.code: int | None = None
        self.since: float | None = None

    @property
    def raised(self) -> bool:
        return self.message is not None

    def raise_(self, message: str, code: int | None) -> None:
        if not self.raised:
            log.error("Gameball refused the store's credentials (code %s); queue held", code)
            self.since = self._clock()
        self.message, self.code = message, code

    def clear(self) -> None:
        if self.raised:
            log.info("Gameball accepts the store's credentials again; queue released")
        self.message = self.code = self.since = None


class Delivery:
    def __init__(
        self,
        *,
        outbox: Outbox,
        storage: Storage,
        upstream: UpstreamClient,
        pacer: Pacer,
        alarm: Alarm,
        transaction_clock: TransactionClock,
        retry_base: float,
        retry_cap: float,
        refund_wait_attempts: int,
        rehold_expired: bool,
        on_verdict: Callable[[str, str], None] = lambda *_: None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[float], float] = backoff.full_jitter,
    ) -> None:
        self._outbox = outbox
        self._storage = storage
        self._upstream = upstream
        self._pacer = pacer
        self._alarm = alarm
        self._tx_clock = transaction_clock
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._refund_wait_attempts = refund_wait_attempts
        self._rehold_expired = rehold_expired
        self._clock = clock
        self._jitter = jitter
        self._on_verdict = on_verdict
        # Rows whose call has left the pacer and is on its way to Gameball right now.
        self.on_the_wire: set[int] = set()

    async def deliver(self, item: Item) -> Verdict:
        """Send the row (already claimed ``inflight``) once; record and return the verdict."""
        try:
            verdict = await self._record(item)
        except StorageError as exc:
            log.error("outbox item %d: its outcome could not be written (%s)", item.id, exc)
            await self.requeue_after_crash(item, reason=f"outcome not written: {exc}")
            verdict = "retry"
        self._on_verdict(item.kind, verdict)
        return verdict

    async def requeue_after_crash(self, item: Item, reason: str = "internal error") -> None:
        """Something other than Gameball interrupted this row (a bug, or a write the disk
        refused, perhaps after Gameball took the call): put it back in the queue. The disk may
        refuse this too, so keep trying while the caller still holds the customer's lane; the
        resend is safe, Gameball answers 9004 if the first one landed."""
        attempt = 0
        while True:
            now = self._clock()
            try:
                await self._outbox.retry_later(
                    item.id,
                    at=now + 5,
                    error=f"{reason} (see the log)",
                    code=None,
                    now=now,
                    uncertain=True,
                )
                return
            except StorageError as exc:
                if attempt == 0:
                    log.error("outbox item %d cannot be put back yet: %s", item.id, exc)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(attempt, 6)))
                attempt += 1

    async def _record(self, item: Item) -> Verdict:
        try:
            return await self._attempt(item)
        except GameballError as exc:
            return await self._failed(item, exc)

    async def _attempt(self, item: Item) -> Verdict:
        answer = await self._send(item)
        await self._outbox.delivered(
            item,
            outcome=item.outcome or "ok",
            result=msgspec.json.encode(answer),
            now=self._clock(),
            note=item.note,
        )
        self._alarm.clear()
        return "delivered"

    async def _send(self, item: Item) -> dict[str, Any]:
        await self._pacer.acquire()
        self.on_the_wire.add(item.id)
        try:
            return await self._call(item)
        finally:
            self.on_the_wire.discard(item.id)

    async def _call(self, item: Item) -> dict[str, Any]:
        if item.kind == "release":
            await self._upstream.call("DELETE", hold_path(item.hold_reference or ""), dict)
            return {}
        body = without_nulls(item.body)
        if item.kind == "payment":
            paid = await self._upstream.call(
                "POST", PATHS["payment"], GbPaymentAnswer, raw_body=body
            )
            return {
                "rewardedPoints": as_number(paid.rewardedPoints),
                "redeemedPoints": as_number(paid.redeemedPoints),
            }
        refunded = await self._upstream.call("POST", PATHS["refund"], GbRefundAnswer, raw_body=body)
        return {
            "refundAmount": as_number(refunded.refundAmount),
            "refundEquivalentPoints": as_number(refunded.refundEquivalentPoints),
        }

    async def _failed(self, item: Item, exc: GameballError) -> Verdict:
        now = self._clock()
        if isinstance(exc, GameballRateLimited):
            self._pacer.rate_limited()
            await self._outbox.retry_later(
                item.id, at=now, error=exc.message, code=exc.http_status, now=now, counts=False
            )
            return "paused"
        if isinstance(exc, GameballAuthError):
            self._alarm.raise_(exc.message, exc.code)
            await self._outbox.retry_later(
                item.id, at=now, error=exc.message, code=exc.code, now=now, counts=False
            )
            return "alarm"
        if isinstance(exc, GameballRejected) and not exc.transient:
            return await self._rejected(item, exc)
        await self._outbox.retry_later(
            item.id,
            at=now + self._backoff(item.attempts),
            error=exc.message,
            code=exc.code,
            now=now,
            uncertain=exc.outcome_unknown,
        )
        return "retry"

    async def _rejected(self, item: Item, exc: GameballRejected) -> Verdict:
        now = self._clock()
        if item.kind == "release" and exc.code == HOLD_GONE:
            # Released already, used, or lapsed: either way the points are not locked.
            await self._outbox.delivered(
                item, outcome="already", result=None, now=now, note=exc.message, code=exc.code
            )
            return "delivered"
        if exc.code in ALREADY_APPLIED and item.uncertain:
            # An earlier send of this very row may have landed, and Gameball says it has.
            await self._outbox.delivered(
                item, outcome="already", result=None, now=now, note=exc.message, code=exc.code
            )
            return "delivered"
        if item.kind == "payment" and exc.code == HOLD_GONE and item.hold_reference:
            return await self._hold_gone(item)
        if item.kind == "refund" and exc.code == REFUND_BEFORE_PAYMENT:
            waiting = await self._payment_may_still_land(item)
            if waiting is not None:
                await self._outbox.retry_later(
                    item.id,
                    at=now + self._backoff(item.attempts),
                    error=waiting,
                    code=exc.code,
                    now=now,
                    blocking=False,
                )
                return "retry"
        # On a first send, "already exists" means another call took the id: a conflict for a
        # person to look at, never a delivery.
        await self._outbox.dead(item, error=_dead_reason(item, exc), code=exc.code, now=now)
        log.warning("outbox item %d (%s) dead-lettered: %s", item.id, item.kind, exc.code)
        return "dead"

    async def _hold_gone(self, item: Item) -> Verdict:
        """Gameball no longer has the hold this payment burns (9006): hold the same points again
        for the same customer and send with the new reference; if that cannot be done, send the
        earning alone and flag the row ``redemption_failed`` for finance."""
        try:
            rewritten = await self._without_stale_hold(item)
        except GameballError as exc:
            return await self._failed(item, exc)
        try:
            return await self._attempt(rewritten)
        except GameballError as exc:
            if rewritten.outcome == "reheld" and exc.code in ALREADY_APPLIED:
                # The payment had landed after all: the fresh hold must not lock the points.
                await self._release_quietly(rewritten.hold_reference)
            return await self._failed(rewritten, exc)

    async def _without_stale_hold(self, item: Item) -> Item:
        body = msgspec.json.decode(item.body)
        reference = item.hold_reference or ""
        hold = await self._storage.hold_by_reference(reference)
        state = hold.state if hold is not None else None
        if state not in ("used", "released"):
            state = await self._upstream_hold_state(reference)
        new_reference: str | None = None
        if hold is not None and hold.customer_id != item.customer_id:
            why = "the hold belongs to another customer; nothing was redeemed"
        elif state == "used":
            # Burned already, by an earlier send of this payment (the resend then meets 9004,
            # which an uncertain row counts as delivered) or by another call: never twice.
            why = "the hold was already used; nothing was redeemed by this payment"
        elif state == "released":
            why = "the hold was released before the payment reached Gameball"
        elif not self._rehold_expired or item.outcome == "reheld":
            why = "the hold expired before the payment reached Gameball"
        elif hold is None or hold.hold_points <= 0:
            why = "the hold expired and was not made here, so it cannot be held again"
        else:
            new_reference = await self._rehold(item, int(hold.hold_points))
            why = "the hold expired and the points could not be held again"
        if new_reference is not None:
            body["redemption"]["pointsHoldReference"] = new_reference
            outcome, note = "reheld", None
        else:
            body.pop("redemption", None)
            outcome, note = "redemption_failed", why
        await self._outbox.rewrite_body(
            item.id,
            body=msgspec.json.encode(body),
            hold_reference=new_reference,
            outcome=outcome,
            note=note,
            now=self._clock(),
        )
        rewritten = await self._outbox.get(item.id)
        assert rewritten is not None
        return rewritten

    async def _upstream_hold_state(self, reference: str) -> str:
        try:
            state = await self._upstream.call("GET", hold_path(reference), GbHoldState)
        except GameballRejected as exc:
            if exc.transient or isinstance(exc, GameballAuthError):
                raise
            return "gone"
        return (state.state or "").strip().lower()

    async def _rehold(self, item: Item, points: int) -> str | None:
        try:
            await self._pacer.acquire()
            held = await self._upstream.call(
                "POST",
                HOLD_PATH,
                GbHoldAnswer,
                body=GbHold(
                    customerId=item.customer_id,
                    transactionTime=self._tx_clock.next(item.customer_id),
                    pointsToHold=points,
                    ignoreOTP=True,
                ),
            )
        except GameballRejected as exc:
            if exc.transient or isinstance(exc, GameballAuthError):
                raise
            log.warning("re-hold for outbox item %d refused (%s)", item.id, exc.code)
            return None
        return held.holdReference

    async def _release_quietly(self, reference: str | None) -> None:
        if reference:
            try:
                await self._upstream.call("DELETE", hold_path(reference), dict)
            except GameballError as exc:
                log.warning("fresh hold not released (%s); it lapses at expiry", exc.code)

    async def _payment_may_still_land(self, item: Item) -> str | None:
        """Why a refund Gameball cannot match to its payment (9005) should wait, or None when
        it should not wait any longer."""
        payment = await self._outbox.by_key(item.after_key) if item.after_key else None
        if payment is not None and payment.state in ("pending", "inflight"):
            return "waiting for the payment it reverses, still queued on this terminal"
        if payment is not None and payment.state != "delivered":
            return None  # refused or discarded: it will never land
        # Delivered just now, or finalized elsewhere (another till): give it a while.
        if item.attempts + 1 < self._refund_wait_attempts:
            return "the payment this refund reverses has not reached Gameball yet"
        return None

    def _backoff(self, attempts: int) -> float:
        """Capped exponential backoff with full jitter (AWS's "full jitter")."""
        ceiling = min(self._retry_cap, self._retry_base * 2 ** min(attempts, 30))
        return max(0.05, self._jitter(ceiling))


def without_nulls(body: bytes) -> bytes:
    """Rows queued by earlier versions may carry ``null`` for optional fields, which Gameball's
    spec does not allow: drop them (``extra`` is the POS's own and is kept as it is)."""
    if b"null" not in body:
        return body
    return msgspec.json.encode(_drop_nulls(msgspec.json.decode(body)))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v if k == "extra" else _drop_nulls(v)) for k, v in value.items() if v is not None
        }
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _dead_reason(item: Item, exc: GameballRejected) -> str:
    if exc.code == ID_EXISTS:
        return (
            "Gameball already has a transaction with this id that this terminal did not send "
            f"(another till or a redemption used it): {exc.message}"
        )
    if exc.code == ALREADY_CANCELLED:
        return f"the payment was already fully refunded at Gameball: {exc.message}"
    if exc.code == REFUND_BEFORE_PAYMENT:
        return f"Gameball does not have the payment this refund reverses: {exc.message}"
    return exc.message

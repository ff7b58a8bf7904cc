"""Sends one outbox row to Gameball and records what became of it, by what the answer means:
delivered; already applied (only after a send whose outcome was unknown, else the id is taken);
retry later with backoff; pause everything (429); configuration alarm (1000-1002); the hold is
gone (re-hold, or earn only); a refund waiting for its payment; or a dead letter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import backoff
import msgspec

from ..errors import (
    GameballAuthError,
    GameballError,
    GameballRateLimited,
    GameballRejected,
    StorageError,
)
from ..gameball.client import UpstreamClient
from ..gameball.codes import Code, Meaning, for_finance, meaning_of
from ..gameball.wire import without_nulls
from ..store.holdbook import is_provisional
from ..store.outbox import Outbox
from ..store.rows import Item
from .alarm import Alarm
from .calls import CALLS
from .doubt import Unknown, landed, may_still_land, outcome_of_landing
from .holdkeeper import HoldKeeper
from .pacing import Pacer
from .rewrites import Rewrites

log = logging.getLogger(__name__)

Verdict = Literal["delivered", "retry", "paused", "alarm", "dead"]
# A row moved to the next free millisecond this often and still refused (9003) is dead.
RETIME_ATTEMPTS = 10
ALREADY = "already"


class Sender:
    def __init__(
        self,
        *,
        outbox: Outbox,
        upstream: UpstreamClient,
        pacer: Pacer,
        alarm: Alarm,
        holds: HoldKeeper,
        retry_base: float,
        retry_cap: float,
        refund_wait_attempts: int,
        on_verdict: Callable[[str, str], None] = lambda *_: None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[float], float] = backoff.full_jitter,
    ) -> None:
        self._outbox = outbox
        self._upstream = upstream
        self._pacer = pacer
        self._alarm = alarm
        self._rewrites = Rewrites(outbox=outbox, holds=holds, clock=clock)
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._refund_wait_attempts = refund_wait_attempts
        self._clock = clock
        self._jitter = jitter
        self._on_verdict = on_verdict
        # Rows whose call has left the pacer and is on its way to Gameball right now.
        self._on_the_wire: set[int] = set()
        self._live: set[int] = set()  # rows a cashier waits for

    def on_the_wire(self, item_id: int) -> bool:
        return item_id in self._on_the_wire

    async def deliver(self, item: Item, *, live: bool = False) -> Verdict:
        """Send the row (claimed ``inflight``) once, before replay if ``live``; record it."""
        if live:
            self._live.add(item.id)
        try:
            verdict = await self._record(item)
        except StorageError as exc:
            log.error("outbox item %d: its outcome could not be written (%s)", item.id, exc)
            await self.requeue_after_crash(item, reason=f"outcome not written: {exc}")
            verdict = "retry"
        finally:
            self._live.discard(item.id)
        self._on_verdict(item.kind, verdict)
        return verdict

    async def requeue_after_crash(self, item: Item, reason: str = "internal error") -> None:
        """A bug or a refused disk write (perhaps after Gameball took the call) interrupted this
        row: queue it again, outcome unknown, retrying while the caller holds the lane."""
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
        if item.burns_hold and is_provisional(item.hold_reference):
            # Made offline, unknown to Gameball: hold the points there first.
            return await self._hold_gone(item)
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
        await self._pacer.acquire(live=item.id in self._live)
        self._on_the_wire.add(item.id)
        try:
            return await self._call(item)
        finally:
            self._on_the_wire.discard(item.id)

    async def _call(self, item: Item) -> dict[str, Any]:
        call = CALLS[item.kind]
        body = without_nulls(item.body) if call.method == "POST" else None
        answer = await self._upstream.call(call.method, call.path(item), call.answer, raw_body=body)
        return call.kept(answer)

    async def _failed(self, item: Item, exc: GameballError) -> Verdict:
        now = self._clock()
        if isinstance(exc, GameballRateLimited):
            self._pacer.rate_limited(exc.retry_after, live=item.id in self._live)
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
        meaning = meaning_of(exc.code)
        if item.kind == "release" and meaning == Meaning.HOLD_GONE:
            # Released already, used, or lapsed: either way the points are not locked.
            return await self._already(item, exc)
        # Gameball answers 4004 for a lock reference it does not know: gone, like an invalid one.
        lock_gone = item.lock_reference is not None and (
            meaning == Meaning.LOCK_GONE or exc.code == Code.NOT_FOUND
        )
        if item.kind == "coupon_release" and lock_gone:
            return await self._already(item, exc)  # the coupons are not locked any more
        if meaning == Meaning.ALREADY and item.uncertain:
            # An earlier send of this very row may have landed, or another call has the id.
            return await self._already_or_taken(item, exc)
        if meaning == Meaning.HOLD_GONE and item.burns_hold:
            return await self._hold_gone(item)
        if lock_gone and item.kind != "coupon_release":
            return await self._lock_gone(item, exc)
        if meaning == Meaning.RETIME and item.attempts < RETIME_ATTEMPTS:
            # Another till's transaction for this customer has this very millisecond.
            retimed = await self._outbox.retime(item, now)
            await self._outbox.retry_later(
                retimed.id, at=now, error=exc.message, code=exc.code, now=now
            )
            return "retry"
        if meaning == Meaning.WAIT and item.after_key is not None:
            waiting = await may_still_land(item, self._outbox, self._refund_wait_attempts)
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
        return await self._refused(item, exc)

    async def _refused(self, item: Item, exc: GameballRejected) -> Verdict:
        """Gameball will never take this row: a dead letter for a person; but a redemption the
        till already gave (offline) is kept as ``redemption_failed``, what the merchant carries."""
        now = self._clock()
        if item.kind == "redeem":
            failed = await self._rewrites.redemption_failed(item, for_finance(exc))
            await self._outbox.delivered(
                failed, outcome="redemption_failed", result=None, now=now, note=failed.note
            )
            return "delivered"
        await self._outbox.dead(item, error=for_finance(exc), code=exc.code, now=now)
        log.warning("outbox item %d (%s) dead-lettered: %s", item.id, item.kind, exc.code)
        return "dead"

    async def _already(
        self, item: Item, exc: GameballRejected, outcome: str = "already"
    ) -> Verdict:
        note = item.note if outcome != ALREADY else exc.message  # a rewrite's, for finance
        await self._outbox.delivered(
            item, outcome=outcome, result=None, now=self._clock(), note=note, code=exc.code
        )
        return "delivered"

    async def _already_or_taken(self, item: Item, exc: GameballRejected) -> Verdict:
        """An "already" after a send whose answer was lost: delivered if it is ours, refused if
        the id is another call's, asked again later when that cannot be known now."""
        live = item.id in self._live
        try:
            ours = await landed(item, self._upstream, self._pacer, live=live)
            outcome = await outcome_of_landing(item, self._upstream, self._pacer, live=live)
        except GameballError as lookup:
            return await self._failed(item, lookup)
        if ours is True and isinstance(outcome, str):
            return await self._already(item, exc, outcome)
        if ours is False:
            return await self._refused(item, exc)
        doubt = next(d for d in (ours, outcome) if isinstance(d, Unknown))
        now = self._clock()
        await self._outbox.retry_later(
            item.id,
            at=now + self._backoff(item.attempts),
            error=f"{exc.message} (whether it was this call is not known yet: {doubt.why})",
            code=exc.code,
            now=now,
            uncertain=True,
        )
        return "retry"

    async def _hold_gone(self, item: Item) -> Verdict:
        """Gameball no longer has the hold this sale burns: a fresh hold for the same customer,
        or the earning alone, flagged ``redemption_failed`` for finance."""
        live = item.id in self._live
        try:
            rewritten, fresh = await self._rewrites.without_stale_hold(item, live=live)
        except GameballError as exc:
            return await self._failed(item, exc)
        try:
            return await self._attempt(rewritten)
        except GameballError as exc:
            if fresh and meaning_of(exc.code) == Meaning.ALREADY:
                # The sale had landed after all: the fresh hold must not lock the points.
                await self._rewrites.give_back(fresh, live=live)
            return await self._failed(rewritten, exc)

    async def _lock_gone(self, item: Item, exc: GameballRejected) -> Verdict:
        rewritten = await self._rewrites.without_coupon(item, exc.message)
        try:
            return await self._attempt(rewritten)
        except GameballError as again:
            return await self._failed(rewritten, again)

    def _backoff(self, attempts: int) -> float:
        """Capped exponential backoff with full jitter (AWS's "full jitter")."""
        ceiling = min(self._retry_cap, self._retry_base * 2 ** min(attempts, 30))
        return max(0.05, self._jitter(ceiling))

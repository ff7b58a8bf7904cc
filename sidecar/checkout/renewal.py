"""Replay's side of holds: when the hold a queued sale burns is gone at Gameball, hold the same
points again for that sale's own customer, or say why nothing can be redeemed (finance sees
it as ``redemption_failed``)."""

from __future__ import annotations

import logging

from ..delivery.holdkeeper import Replacement
from ..delivery.pacing import Pacer, paced_call
from ..errors import GameballAuthError, GameballError, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.paths import hold_path
from ..store.holdbook import HoldBook
from ..store.rows import Item
from ..timefmt import TransactionClock
from .holdrules import hold_state, request_hold

log = logging.getLogger(__name__)


class HoldRenewal:
    """The checkout's answer to delivery's ``HoldKeeper``."""

    def __init__(
        self,
        *,
        book: HoldBook,
        upstream: UpstreamClient,
        pacer: Pacer,
        transaction_clock: TransactionClock,
        rehold_expired: bool,
    ) -> None:
        """``pacer``: the look-up, the fresh hold and its release are calls on the account's
        budget, each taking its own slot when it goes (a cashier's before replay's)."""
        self._book = book
        self._upstream = upstream
        self._pacer = pacer
        self._tx_clock = transaction_clock
        self._rehold_expired = rehold_expired

    async def replace(self, item: Item, *, live: bool = False) -> Replacement:
        reference = item.hold_reference or ""
        hold = await self._book.by_reference(reference)
        absorbed = (hold.hold_points, hold.hold_amount) if hold is not None else _at_stake(item)
        if hold is not None and hold.customer_id != item.customer_id:
            return _earn_only(
                "the hold belongs to another customer; nothing was redeemed", absorbed
            )
        if hold is not None and hold.provisional:
            # Made here while offline: Gameball learns of it now, for the same customer.
            return await self._rehold(
                item,
                hold.hold_points,
                absorbed,
                "the points redeemed offline could not be held at Gameball",
                live=live,
            )
        state: str | None = hold.state if hold is not None else None
        if state not in ("used", "released"):
            state = await self._gameball_state(reference, live=live)
        if state == "used":
            # Burned already, by an earlier send of this sale (the resend then meets 9004,
            # which an uncertain row counts as delivered) or by another call: never twice.
            return _earn_only(
                "the hold was already used; nothing was redeemed by this payment", absorbed
            )
        if state == "released":
            return _earn_only("the hold was released before the payment reached Gameball", absorbed)
        if not self._rehold_expired or item.outcome == "reheld":
            return _earn_only("the hold expired before the payment reached Gameball", absorbed)
        if hold is None or hold.hold_points <= 0:
            return _earn_only(
                "the hold expired and was not made here, so it cannot be held again", None
            )
        return await self._rehold(
            item,
            hold.hold_points,
            absorbed,
            "the hold expired and the points could not be held again",
            live=live,
        )

    async def absorbed(self, reference: str | None) -> tuple[float, float] | None:
        hold = await self._book.by_reference(reference) if reference else None
        return (hold.hold_points, hold.hold_amount) if hold is not None else None

    async def _rehold(
        self,
        item: Item,
        points: float,
        absorbed: tuple[float, float] | None,
        why: str,
        *,
        live: bool,
    ) -> Replacement:
        try:
            # Its slot is taken when it goes, not before the look-up (which takes its own).
            await self._pacer.acquire(live=live)
            held = await request_hold(
                self._upstream,
                self._tx_clock,
                item.customer_id,
                points=int(points),
                ignore_otp=True,
            )
        except GameballRejected as exc:
            if exc.transient or isinstance(exc, GameballAuthError):
                raise
            log.warning("re-hold for outbox item %d refused (%s)", item.id, exc.code)
            return _earn_only(f"{why} ({exc.message})", absorbed)
        # What the till discounted rides along on the row: if this fresh hold lapses too,
        # finance still sees what the sale was worth.
        return Replacement(reference=held.holdReference, outcome="reheld", absorbed=absorbed)

    async def give_back(self, reference: str, *, live: bool = False) -> None:
        try:
            await paced_call(
                self._pacer, self._upstream, "DELETE", hold_path(reference), dict, live=live
            )
        except GameballError as exc:
            log.warning("fresh hold not released (%s); it lapses at expiry", exc.code)

    async def _gameball_state(self, reference: str, *, live: bool) -> str:
        try:
            # A 429 goes up to the sender, which tells the pacer (once).
            state = await hold_state(
                self._upstream, self._pacer, reference, live=live, report_429=False
            )
        except GameballRejected as exc:
            if exc.transient or isinstance(exc, GameballAuthError):
                raise
            return "gone"
        return (state.state or "").strip().lower()


def _earn_only(why: str, absorbed: tuple[float, float] | None) -> Replacement:
    return Replacement(reference=None, outcome="redemption_failed", note=why, absorbed=absorbed)


def _at_stake(item: Item) -> tuple[float, float] | None:
    """The points and value a re-held sale carries from the hold it first named."""
    if item.absorbed_points is None or item.absorbed_value is None:
        return None
    return (item.absorbed_points, item.absorbed_value)

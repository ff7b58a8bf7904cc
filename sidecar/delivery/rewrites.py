"""A queued sale whose redemption cannot be burned as it was stored: rewritten to burn a fresh
hold of the same customer, or to earn only, with the reason kept for finance. The row's body
changes, never its ids."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from ..store.outbox import Outbox
from ..store.rows import Item
from .holdkeeper import HoldKeeper


class Rewrites:
    def __init__(
        self, *, outbox: Outbox, holds: HoldKeeper, clock: Callable[[], float] = time.time
    ) -> None:
        self._outbox = outbox
        self._holds = holds
        self._clock = clock

    async def without_stale_hold(
        self, item: Item, *, live: bool = False
    ) -> tuple[Item, str | None]:
        """The row with a fresh hold (and that hold's reference), or earn-only (and None).
        Raises ``GameballError`` when Gameball could not be asked."""
        replacement = await self._holds.replace(item, live=live)
        redemption = _redemption(item)
        redemption["pointsHoldReference"] = replacement.reference
        rewritten = await self._rewrite(
            item,
            redemption,
            outcome=replacement.outcome,
            note=replacement.note,
            hold_reference=replacement.reference,
            lock_reference=item.lock_reference,
            absorbed=replacement.absorbed,
        )
        return rewritten, replacement.reference

    async def without_coupon(self, item: Item, why: str) -> Item:
        """The coupon lock is invalid, expired or used: the discount was given at the till, but
        no coupon can be burned now. The sale goes without it (the customer still earns)."""
        redemption = _redemption(item)
        redemption.pop("couponsLockReference", None)
        redemption.pop("couponCodes", None)
        return await self._rewrite(
            item,
            redemption,
            outcome="redemption_failed",
            note=f"the coupon lock could not be burned ({why}); no coupon was redeemed",
            hold_reference=item.hold_reference,
            lock_reference=None,
            absorbed=None,
        )

    async def redemption_failed(self, item: Item, why: str) -> Item:
        """A redeem-now the till gave while offline, refused at replay: nothing to resend,
        but finance must see what it cost."""
        await self._outbox.rewrite_body(
            item.id,
            body=item.body,
            hold_reference=item.hold_reference,
            lock_reference=item.lock_reference,
            outcome="redemption_failed",
            note=f"Gameball refused the redemption made offline ({why})",
            now=self._clock(),
            absorbed=await self._holds.absorbed(item.hold_reference),
        )
        rewritten = await self._outbox.get(item.id)
        assert rewritten is not None
        return rewritten

    async def give_back(self, reference: str, *, live: bool = False) -> None:
        await self._holds.give_back(reference, live=live)

    async def _rewrite(
        self,
        item: Item,
        redemption: dict[str, Any],
        *,
        outcome: str,
        note: str | None,
        hold_reference: str | None,
        lock_reference: str | None,
        absorbed: tuple[float, float] | None,
    ) -> Item:
        body = msgspec.json.decode(item.body)
        kept = {k: v for k, v in redemption.items() if v is not None}
        if kept:
            body["redemption"] = kept
        else:
            body.pop("redemption", None)
        await self._outbox.rewrite_body(
            item.id,
            body=msgspec.json.encode(body),
            hold_reference=hold_reference,
            lock_reference=lock_reference,
            outcome=outcome,
            note=note,
            now=self._clock(),
            absorbed=absorbed,
        )
        rewritten = await self._outbox.get(item.id)
        assert rewritten is not None
        return rewritten


def _redemption(item: Item) -> dict[str, Any]:
    return dict(msgspec.json.decode(item.body).get("redemption") or {})

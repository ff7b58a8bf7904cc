"""What replay needs from the checkout when the hold a queued sale burns is gone at Gameball:
a fresh hold for the same customer, or the reason there cannot be one. The checkout's holds
implement it; delivery only asks (it never writes hold state itself)."""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from ..store.rows import Item


class Replacement(msgspec.Struct, frozen=True, kw_only=True):
    reference: str | None  # the fresh hold, or None: send the sale earn-only
    outcome: Literal["reheld", "redemption_failed"]
    note: str | None = None  # why nothing was redeemed, for finance
    # The points and money value the till discounted: for redemption_failed, what will not be
    # redeemed (the merchant's); for reheld, what the fresh hold stands for.
    absorbed: tuple[float, float] | None = None


class HoldKeeper(Protocol):
    async def replace(self, item: Item, *, live: bool = False) -> Replacement:
        """Hold the same points again for the sale's own customer, or say why not. Raises
        ``GameballError`` when Gameball could not be asked (the sale is retried later).
        ``live``: a cashier waits for the sale, so its calls go before replay's."""
        ...

    async def give_back(self, reference: str, *, live: bool = False) -> None:
        """Release a fresh hold nobody will burn (the sale had landed after all)."""
        ...

    async def absorbed(self, reference: str | None) -> tuple[float, float] | None:
        """The points and money value of a hold made here, for a redemption that failed."""
        ...

"""The holds made on this terminal, as rows: who they are for, their state, the sale that names
them, and a redemption in doubt. Only ``checkout.holds`` decides what happens to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from . import queries
from .database import Database

HoldState = Literal["active", "used", "expired", "released", "redeeming", "failed"]
# Gameball's references are UUIDs; a provisional (offline) hold's cannot be mistaken for one.
PROVISIONAL_PREFIX = "provisional-"


def is_provisional(reference: str | None) -> bool:
    return reference is not None and reference.startswith(PROVISIONAL_PREFIX)


class HoldRow(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One hold, in column order."""

    hold_reference: str
    checkout_id: str
    fingerprint: bytes
    customer_id: str
    hold_points: float
    hold_amount: float
    state: HoldState
    expires_at: float | None
    answer: bytes
    created_at: float
    updated_at: float
    claimed_by: str | None
    redeem_id: str | None
    redeem_uncertain: int
    error: bytes | None
    provisional: int  # 1: made here while Gameball was unreachable (offline redemption)


class Provisional(msgspec.Struct, frozen=True, kw_only=True):
    points: float
    value: float


class HoldBook:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(
        self,
        *,
        hold_reference: str,
        checkout_id: str,
        fingerprint: bytes,
        customer_id: str,
        hold_points: float,
        hold_amount: float,
        state: HoldState,
        expires_at: float | None,
        answer: bytes,
        now: float,
        redeem_id: str | None = None,
        provisional: bool = False,
    ) -> None:
        await self._db.execute(
            queries.HOLD_INSERT,
            (
                hold_reference,
                checkout_id,
                fingerprint,
                customer_id,
                hold_points,
                hold_amount,
                state,
                expires_at,
                answer,
                now,
                now,
                redeem_id,
                int(provisional),
            ),
        )

    async def by_checkout(self, checkout_id: str) -> HoldRow | None:
        return _row(await self._db.fetchone(queries.HOLD_BY_CHECKOUT, (checkout_id,)))

    async def by_reference(self, hold_reference: str) -> HoldRow | None:
        return _row(await self._db.fetchone(queries.HOLD_BY_REFERENCE, (hold_reference,)))

    async def by_redeem_id(self, redeem_id: str) -> HoldRow | None:
        """The hold a redeem-now under this id was made for, online or offline."""
        return _row(await self._db.fetchone(queries.HOLD_BY_REDEEM_ID, (redeem_id,)))

    async def refresh(
        self, hold_reference: str, state: str, expires_at: float | None, now: float
    ) -> None:
        """Gameball's view of a hold, unless this terminal already knows better."""
        await self._db.execute(queries.HOLD_REFRESH_STATE, (state, expires_at, now, hold_reference))

    async def settle(
        self,
        hold_reference: str,
        *,
        state: HoldState,
        answer: bytes,
        error: bytes | None,
        now: float,
    ) -> None:
        await self._db.execute(queries.HOLD_SETTLE, (state, answer, error, now, hold_reference))

    async def mark_redeem_uncertain(self, hold_reference: str, now: float) -> None:
        await self._db.execute(queries.HOLD_REDEEM_UNCERTAIN, (now, hold_reference))

    async def forget(self, hold_reference: str) -> None:
        await self._db.execute(queries.HOLD_DELETE, (hold_reference,))

    async def redeeming(self) -> list[HoldRow]:
        return [_convert(row) for row in await self._db.fetchall(queries.HOLDS_REDEEMING)]

    async def outstanding(self, now: float, customer_id: str | None = None) -> Provisional:
        """Offline points not settled at Gameball: a customer's, or everyone's."""
        points, value = await self._db.fetchone(
            queries.PROVISIONAL_OUTSTANDING, {"now": now, "customer": customer_id}
        )
        return Provisional(points=float(points), value=float(value))

    async def spent_since(self, since: float, customer_id: str | None = None) -> float:
        (points,) = await self._db.fetchone(
            queries.PROVISIONAL_SINCE, {"since": since, "customer": customer_id}
        )
        return float(points)

    async def release_locally(self, hold_reference: str, now: float) -> bool:
        """A provisional hold is given back here alone: Gameball never had it."""
        return await self._db.execute(queries.HOLD_RELEASE_LOCAL, (now, hold_reference)) == 1


def _row(row: Sequence[Any] | None) -> HoldRow | None:
    return _convert(row) if row is not None else None


def _convert(row: Sequence[Any]) -> HoldRow:
    return msgspec.convert(tuple(row), HoldRow)

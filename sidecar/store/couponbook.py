"""The coupon locks made on this terminal: whose they are, their codes and expiry, and the sale
that names them. Only ``checkout.coupons`` and the outbox's triggers change them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from . import queries
from .database import Database


class LockRow(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    lock_reference: str
    customer_id: str
    codes: bytes  # JSON list of the codes locked
    state: str  # locked, used, released
    expires_at: float | None
    claimed_by: str | None
    created_at: float
    updated_at: float


class CouponBook:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(
        self,
        *,
        lock_reference: str,
        customer_id: str,
        codes: list[str],
        expires_at: float | None,
        now: float,
    ) -> None:
        await self._db.execute(
            queries.LOCK_INSERT,
            (lock_reference, customer_id, msgspec.json.encode(codes), expires_at, now, now),
        )

    async def by_reference(self, lock_reference: str) -> LockRow | None:
        row = await self._db.fetchone(queries.LOCK_BY_REFERENCE, (lock_reference,))
        return _convert(row) if row is not None else None


def _convert(row: Sequence[Any]) -> LockRow:
    return msgspec.convert(tuple(row), LockRow)

"""A customer's points balance for the cashier's screen: fresh from Gameball, from a short cache,
or the last one seen (kept on disk) marked stale with its age when Gameball cannot be asked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from .. import errors
from ..errors import GameballError, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.codes import for_cashier
from ..gameball.paths import balance_path
from ..gameball.wire import GbBalance
from ..store.database import Database
from ..store.holdbook import HoldBook
from ..timefmt import iso_ms
from .cache import AgedCache
from .replies import BalanceAnswer

log = logging.getLogger(__name__)

BALANCE_KEY = "balance:"
# A burst of deliveries for one customer (a replay) is followed by one refresh, this much later.
REFRESH_DELAY = 2.0
_balance_decoder = msgspec.json.Decoder(GbBalance)


class Balances:
    def __init__(
        self,
        *,
        database: Database,
        upstream: UpstreamClient,
        cache: AgedCache[str, GbBalance],
        budget: float,
        book: HoldBook | None = None,
        spawn: Callable[[Coroutine[Any, Any, None]], Awaitable[object]] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``book``: points redeemed here offline and not at Gameball yet are taken off.
        ``spawn``: runs the background refresh after a delivery (none when None)."""
        self._db = database
        self._book = book
        self._upstream = upstream
        self._cache = cache
        self._budget = budget
        self._clock = clock
        self._spawn = spawn
        self._sleep = sleep
        self._refreshing: set[str] = set()

    async def balance(self, customer_id: str) -> BalanceAnswer:
        cached = self._cache.get(customer_id)
        if cached is not None:
            return await self._answer(customer_id, cached[0], cached[1], "cache")
        try:
            fresh, now = await self._fetch(customer_id)
        except GameballRejected as exc:
            if exc.transient:
                return await self._stale(customer_id)
            raise for_cashier(exc, subject="the balance lookup") from None
        except (GameballError, TimeoutError):
            return await self._stale(customer_id)
        return await self._answer(customer_id, fresh, now, "upstream")

    async def delivered(self, customer_id: str) -> None:
        """A call of the customer's reached Gameball: the balance seen before is out of date.
        The cache forgets it, and the one kept on disk for offline answers (and for the offline
        redemption caps) is refreshed soon after, if this terminal keeps one for the customer."""
        self._cache.forget(customer_id)
        if self._spawn is None or customer_id in self._refreshing:
            return
        self._refreshing.add(customer_id)
        refresh = self._refresh(customer_id)
        try:
            await self._spawn(refresh)
        except RuntimeError:  # the scheduler is closed: the sidecar is stopping
            refresh.close()
            self._refreshing.discard(customer_id)

    async def _refresh(self, customer_id: str) -> None:
        try:
            await self._sleep(REFRESH_DELAY)
            if await self._db.get_value(BALANCE_KEY + customer_id) is not None:
                await self._fetch(customer_id)
        except (GameballError, TimeoutError, errors.StorageError) as exc:
            # The old balance stays, labelled with its age; the next lookup tries again.
            log.info("balance refresh after a delivery failed (%s)", type(exc).__name__)
        finally:
            self._refreshing.discard(customer_id)

    async def _fetch(self, customer_id: str) -> tuple[GbBalance, float]:
        async with asyncio.timeout(self._budget):
            fresh = await self._upstream.call("GET", balance_path(customer_id), GbBalance)
        now = self._clock()
        self._cache.put(customer_id, fresh)
        await self._db.put_value(BALANCE_KEY + customer_id, msgspec.json.encode(fresh), now)
        return fresh, now

    async def last_known(self, customer_id: str) -> tuple[GbBalance, float] | None:
        """The last balance Gameball reported for the customer, and when (kept on disk)."""
        saved = await self._db.get_value(BALANCE_KEY + customer_id)
        return (_balance_decoder.decode(saved[0]), saved[1]) if saved is not None else None

    async def _stale(self, customer_id: str) -> BalanceAnswer:
        saved = await self._db.get_value(BALANCE_KEY + customer_id)
        if saved is None:
            raise errors.BalanceUnavailable(
                "Gameball cannot be reached and this customer's balance has not been seen on "
                "this terminal before; try again when the store is back online"
            )
        return await self._answer(customer_id, _balance_decoder.decode(saved[0]), saved[1], "stale")

    async def _answer(
        self, customer_id: str, balance: GbBalance, as_of: float, source: str
    ) -> BalanceAnswer:
        now = self._clock()
        spent = await self._book.outstanding(now, customer_id) if self._book else None
        points, value = (spent.points, spent.value) if spent else (0.0, 0.0)
        return BalanceAnswer(
            customerId=customer_id,
            availablePointsBalance=max(0.0, balance.availablePointsBalance - points),
            availablePointsValue=max(0.0, round(balance.availablePointsValue - value, 2)),
            pendingPoints=balance.pendingPoints,
            pendingPointsValue=balance.pendingPointsValue,
            totalPointsBalance=balance.totalPointsBalance,
            totalPointsValue=balance.totalPointsValue,
            totalEarnedPoints=balance.totalEarnedPoints,
            nextExpiringPointsAmount=balance.nextExpiringPointsAmount,
            nextExpiringPointsValue=balance.nextExpiringPointsValue,
            nextExpiringPointsDate=balance.nextExpiringPointsDate,
            currency=balance.currency,
            pointsName=balance.pointsName,
            source=source,  # type: ignore[arg-type]
            asOf=iso_ms(as_of),
            ageSeconds=round(max(0.0, now - as_of), 3),
            stale=source == "stale",
            provisionalPoints=points,
            provisionalValue=value,
        )

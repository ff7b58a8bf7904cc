"""A customer's history for a dispute at the counter: Gameball's transaction list, paged,
from a short cache or the last page seen (marked stale) when Gameball cannot be asked; and this
till's calls for that customer that are not at Gameball yet, marked ``queued``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import msgspec

from .. import errors
from ..errors import GameballError, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.codes import for_cashier
from ..gameball.paths import TRANSACTIONS_PATH
from ..gameball.wire import GbTransactionsPage, as_number
from ..store.database import Database
from ..store.outbox import Outbox
from ..store.rows import ONE_ID_LIST, TIME_FIELDS, Item
from ..timefmt import iso_ms
from .cache import AgedCache
from .replies import HistoryAnswer, HistoryEntry

HISTORY_KEY = "history:"
_page_decoder = msgspec.json.Decoder(GbTransactionsPage)
# Calls that have not reached Gameball; a dead one is shown too, it is part of the dispute.
NOT_THERE_YET = ("pending", "inflight", "dead")


# Customers whose cached pages are dropped when one of their calls lands (a bound on memory).
MAX_TRACKED_CUSTOMERS = 10_000


class History:
    def __init__(
        self,
        *,
        database: Database,
        outbox: Outbox,
        upstream: UpstreamClient,
        cache: AgedCache[str, GbTransactionsPage],
        budget: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._outbox = outbox
        self._upstream = upstream
        self._cache = cache
        self._budget = budget
        self._clock = clock
        self._pages: dict[str, set[str]] = {}  # cached pages' keys, by customer

    async def delivered(self, customer_id: str) -> None:
        """A call of the customer's reached Gameball: the pages cached before lack it."""
        for key in self._pages.pop(customer_id, ()):
            self._cache.forget(key)

    async def page(
        self, customer_id: str, *, limit: int, start_after: int | None, direction: str | None
    ) -> HistoryAnswer:
        params = {"customerId": customer_id, "limit": str(limit)}
        if start_after is not None:
            params["startAfter"] = str(start_after)
        if direction is not None:
            params["direction"] = direction
        key = msgspec.json.encode(params).decode()
        cached = self._cache.get(key)
        if cached is not None:
            page, as_of, source = cached[0], cached[1], "cache"
        else:
            page, as_of, source = await self._fetch(key, params)
        queued = [] if start_after is not None else await self._queued(customer_id)
        entries = [_entry(row) for row in page.transactions]
        last = entries[-1].gameballTransactionId if entries else None
        return HistoryAnswer(
            customerId=customer_id,
            transactions=entries,
            hasMore=bool(page.hasMore),
            nextStartAfter=last if page.hasMore else None,
            queued=queued,
            source=source,  # type: ignore[arg-type]
            stale=source == "stale",
            asOf=iso_ms(as_of),
        )

    async def _fetch(
        self, key: str, params: dict[str, str]
    ) -> tuple[GbTransactionsPage, float, str]:
        try:
            async with asyncio.timeout(self._budget):
                page = await self._upstream.call(
                    "GET", TRANSACTIONS_PATH, GbTransactionsPage, params=params
                )
        except GameballRejected as exc:
            if not exc.transient:
                raise for_cashier(exc, subject="the history lookup") from None
            return await self._stale(key)
        except (GameballError, TimeoutError):
            return await self._stale(key)
        now = self._clock()
        self._cache.put(key, page)
        if len(self._pages) > MAX_TRACKED_CUSTOMERS:
            self._pages.clear()  # kept bounded; the pages then simply age out of the cache
        self._pages.setdefault(params["customerId"], set()).add(key)
        await self._db.put_value(HISTORY_KEY + key, msgspec.json.encode(page), now)
        return page, now, "upstream"

    async def _stale(self, key: str) -> tuple[GbTransactionsPage, float, str]:
        saved = await self._db.get_value(HISTORY_KEY + key)
        if saved is None:
            raise errors.HistoryUnavailable(
                "Gameball cannot be reached and this customer's history has not been seen on "
                "this terminal before; the calls this till has queued are in /v1/outbox"
            )
        return _page_decoder.decode(saved[0]), saved[1], "stale"

    async def _queued(self, customer_id: str) -> list[HistoryEntry]:
        items = await self._outbox.listing(states=NOT_THERE_YET, customer_id=customer_id, limit=200)
        return [_queued_entry(item) for item in items]


def _entry(row: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        status=str(row.get("status") or "Active"),
        type=row.get("type"),
        transactionId=row.get("transactionId"),
        gameballTransactionId=str(row["gameballTransactionId"])
        if row.get("gameballTransactionId") is not None
        else None,
        direction=row.get("direction"),
        points=as_number(row.get("points")),
        amount=as_number(row.get("amount")),
        transactionTime=row.get("transactionTime"),
        reason=row.get("reason"),
    )


def _queued_entry(item: Item) -> HistoryEntry:
    body: dict[str, Any] = msgspec.json.decode(item.body)
    field = TIME_FIELDS.get(item.kind)
    return HistoryEntry(
        status="queued" if item.state != "dead" else "refused",
        type=item.kind,
        # The POS's own id (ids may hold colons); a customer update has none of its own.
        transactionId=item.idem_key.partition(":")[2] if item.kind in ONE_ID_LIST else None,
        amount=item.amount or None,
        points=body.get("points"),
        transactionTime=body.get(field) if field else None,
        outboxId=item.id,
    )

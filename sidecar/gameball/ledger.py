"""Does Gameball's transaction list hold a call of ours? Asked only when an answer was lost and
a resend is then refused as "already" (9004, 9001): Gameball keeps one namespace of ids for
every till, so that answer alone cannot tell our own earlier send from another till's call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .client import UpstreamClient
from .paths import TRANSACTIONS_PATH
from .wire import GbTransactionsPage

PAGE = 200  # Gameball's largest page
# A customer with more rows than this is not searched to the end: the row stays in doubt and
# is asked again later (by then it is near the end of the list if it landed at all).
MOST_PAGES = 25
# The id each call kind carries in its body, the one its ledger rows are written under.
ID_FIELDS = ("transactionId", "paymentId", "orderId", "refundTransactionId")


def gameball_id(body: dict[str, Any]) -> str | None:
    for name in ID_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return None


async def has_transaction(
    upstream: UpstreamClient,
    customer_id: str,
    transaction_id: str,
    types: tuple[str, ...],
    *,
    before_page: Callable[[], Awaitable[None]],
) -> bool | None:
    """True when the customer's ledger has a row of one of ``types`` (what the call writes:
    a refund's Cancel, not the payment it reverses) under ``transaction_id``, False when the
    whole ledger was read and has none, None when it is too long to read to the end now. A
    failed read raises, like any call. ``before_page`` is awaited before each page is asked
    for: each is a call on the account's rate budget."""
    start_after: str | None = None
    for _ in range(MOST_PAGES):
        params = {"customerId": customer_id, "limit": str(PAGE)}
        if start_after is not None:
            params["startAfter"] = start_after
        await before_page()
        page = await upstream.call("GET", TRANSACTIONS_PATH, GbTransactionsPage, params=params)
        if any(
            row.get("transactionId") == transaction_id and row.get("type") in types
            for row in page.transactions
        ):
            return True
        if not page.hasMore or not page.transactions:
            return False
        last = page.transactions[-1].get("gameballTransactionId")
        if last is None:
            return None
        start_after = str(last)
    return None

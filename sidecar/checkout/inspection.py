"""Looking at and acting on the outbox by hand (local API and CLI alike): list, show, retry a
dead letter, discard with a kept reason, export for finance."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from typing import Any

import msgspec

from .. import errors
from ..logs import redactor
from ..store.outbox import Outbox
from ..store.rows import Item
from ..timefmt import iso_ms

STATES = ("pending", "inflight", "delivered", "dead", "discarded")
# Contact and personal data stay out of what people read and export.
HIDDEN_FIELDS = ("email", "mobile", "customerAttributes")
# Fields shown exactly as sent (ids, references, times, codes): never free text.
VERBATIM = re.compile(r"(Id|Reference|Date|Time|sku|channel|currency|Code|Codes)$")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "id",
    "kind",
    "state",
    "outcome",
    "customerId",
    "paymentId",
    "orderId",
    "refundId",
    "transactionId",
    "holdReference",
    "lockReference",
    "amount",
    "points",
    "redeemedPoints",
    "absorbedPoints",
    "absorbedValue",
    "username",
    "reason",
    "note",
    "merchantId",
    "branchId",
    "eventTime",
    "attempts",
    "lastCode",
    "lastError",
    "createdAt",
    "deliveredAt",
    "discardReason",
)


class OutboxView:
    def __init__(
        self,
        outbox: Outbox,
        *,
        on_retry: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox = outbox
        self._on_retry = on_retry
        self._clock = clock

    async def listing(
        self,
        *,
        state: str | None = None,
        customer_id: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[dict[str, Any]]:
        states: tuple[str, ...] = ()
        if state:
            states = tuple(s.strip() for s in state.split(","))
            unknown = [s for s in states if s not in STATES]
            if unknown:
                raise errors.ValidationFailed.field(
                    "state", f"unknown state {unknown[0]!r}; use one of {', '.join(STATES)}"
                )
        items = await self._outbox.listing(
            states=states, customer_id=customer_id, outcome=outcome, limit=limit, after_id=after_id
        )
        return [describe(item) for item in items]

    async def show(self, item_id: int) -> dict[str, Any]:
        return describe(await self._get(item_id), with_body=True)

    async def retry(self, item_id: int) -> dict[str, Any]:
        item = await self._get(item_id)
        if not await self._outbox.manual_retry(item, self._clock()):
            raise errors.OutboxStateConflict(
                f"Outbox item {item_id} is {item.state}; only dead items can be retried by hand"
            )
        self._on_retry()
        return describe(await self._get(item_id))

    async def discard(self, item_id: int, reason: str) -> dict[str, Any]:
        item = await self._get(item_id)
        if not await self._outbox.discard(item, reason, self._clock()):
            raise errors.OutboxStateConflict(
                f"Outbox item {item_id} is {item.state}; only pending or dead items can be "
                "discarded"
            )
        return describe(await self._get(item_id))

    async def export(
        self, fmt: str, *, state: str | None = None, outcome: str | None = None
    ) -> str:
        rows: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self.listing(state=state, outcome=outcome, limit=1000, after_id=after)
            if not page:
                break
            rows.extend(page)
            after = page[-1]["id"]
        if fmt == "json":
            return msgspec.json.format(msgspec.json.encode(rows), indent=2).decode() + "\n"
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({key: _inert(value) for key, value in row.items()} for row in rows)
        return out.getvalue()

    async def _get(self, item_id: int) -> Item:
        item = await self._outbox.get(item_id)
        if item is None:
            raise errors.OutboxItemNotFound(f"There is no outbox item {item_id}")
        return item


def describe(item: Item, *, with_body: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.json.decode(item.body)
    result: dict[str, Any] = msgspec.json.decode(item.result) if item.result else {}
    merchant = body.get("merchant") or {}
    reversed_kind = (item.after_key or "").partition(":")[0]
    failed = item.outcome == "redemption_failed"  # a re-held sale carries its value too
    described: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "state": item.state,
        "outcome": item.outcome,
        "customerId": item.customer_id,
        "paymentId": body.get("paymentId")
        or (body.get("reverseTransactionId") if reversed_kind == "payment" else None),
        "orderId": body.get("orderId")
        or (body.get("reverseTransactionId") if reversed_kind == "order" else None),
        "refundId": body.get("refundTransactionId"),
        "transactionId": body.get("transactionId"),
        "holdReference": item.hold_reference,
        "lockReference": item.lock_reference,
        "amount": item.amount,
        "points": body.get("points"),
        "redeemedPoints": result.get("redeemedPoints"),
        # What the till discounted that Gameball did not redeem (redemption_failed).
        "absorbedPoints": item.absorbed_points if failed else None,
        "absorbedValue": item.absorbed_value if failed else None,
        # Who gave manual points, and why: kept for finance with the row.
        "username": _scrubbed(body.get("username")),
        "reason": _scrubbed(body.get("reason")),
        "note": _scrubbed(item.note),
        "merchantId": merchant.get("uniqueId"),
        "branchId": (merchant.get("branch") or {}).get("uniqueId"),
        "eventTime": body.get("paymentDate")
        or body.get("orderDate")
        or body.get("transactionTime"),
        "attempts": item.attempts,
        "nextAttemptAt": iso_ms(item.next_attempt_at) if item.state == "pending" else None,
        "lastCode": item.last_code,
        "lastError": redactor.scrub(item.last_error) if item.last_error else None,
        "createdAt": iso_ms(item.created_at),
        "deliveredAt": iso_ms(item.delivered_at) if item.delivered_at else None,
        "discardReason": _scrubbed(item.discard_reason),
    }
    if with_body:
        described["request"] = _without_contact(body)
        described["result"] = redactor.scrub_data(result) if item.result else None
    return described


def _scrubbed(text: Any) -> Any:
    return redactor.scrub(text) if isinstance(text, str) else text


def _without_contact(value: Any, key: str = "") -> Any:
    """The request as sent, minus contact fields; free text (``extra``, a manual reason, a
    line's name) may hold e-mail addresses and phone numbers a cashier typed, so they are
    scrubbed with the log redactor's rules. Ids, references and times are shown as sent."""
    if isinstance(value, dict):
        return {
            name: redactor.scrub_data(item) if name == "extra" else _without_contact(item, name)
            for name, item in value.items()
            if name not in HIDDEN_FIELDS
        }
    if isinstance(value, list):
        return [_without_contact(item, key) for item in value]
    if isinstance(value, str) and not VERBATIM.search(key):
        return redactor.scrub(value)
    return value


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate gets a leading apostrophe, which makes it text
    (OWASP's advice); numbers are left as they are, so amounts stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value

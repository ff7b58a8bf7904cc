"""The durable outbox: every call that must reach Gameball (payments, refunds, hold releases) is a
row here, committed before the POS hears a 2xx, and moved through its states by delivery.

States: pending -> inflight -> delivered | pending (retry) | dead; dead -> pending (retry by
hand) | discarded (with a reason). Rows for one customer are delivered in id order."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from .sealing import CHECK_PLAINTEXT, MARKER, Sealer, SealError
from .storage import Storage
from .timefmt import iso_ms

KEY_CHECK = "sealing:check"

Kind = Literal["payment", "refund", "release"]
State = Literal["pending", "inflight", "delivered", "dead", "discarded"]

COLUMNS = (
    "id, kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, after_key, "
    "hold_reference, state, outcome, attempts, next_attempt_at, last_error, last_code, result, "
    "created_at, updated_at, delivered_at, discard_reason"
)
SELECT_BY_KEY = f"SELECT {COLUMNS} FROM outbox WHERE idem_key = ?"
SELECT_BY_ID = f"SELECT {COLUMNS} FROM outbox WHERE id = ?"
OPEN_FOR_CUSTOMER = (
    "SELECT COUNT(*) FROM outbox WHERE customer_id = ? AND state IN ('pending', 'inflight')"
)
OPEN_TOTALS = "SELECT open_count, open_amount FROM outbox_totals WHERE id = 1"
OLDEST_OPEN = """
    SELECT MIN(created_at) FROM (
        SELECT created_at FROM (SELECT created_at FROM outbox WHERE state = 'pending'
                                ORDER BY id LIMIT 1)
        UNION ALL
        SELECT created_at FROM (SELECT created_at FROM outbox WHERE state = 'inflight'
                                ORDER BY id LIMIT 1)
    )
"""
TX_MS_TAKEN = "SELECT 1 FROM outbox WHERE customer_id = ? AND tx_ms = ?"
INSERT = (
    "INSERT INTO outbox (kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, "
    "after_key, hold_reference, state, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The head of each customer's queue, if it is due: oldest first, walking pending rows in id
# order and stopping at the limit (a row is a head when nothing older of its customer is open).
NOT_BEHIND_ANOTHER = """
      AND NOT EXISTS (SELECT 1 FROM outbox AS p
                      WHERE p.customer_id = o.customer_id
                        AND p.state IN ('pending', 'inflight') AND p.id < o.id)
"""
READY_HEADS = f"""
    SELECT {COLUMNS} FROM outbox AS o
    WHERE o.state = 'pending' AND +o.next_attempt_at <= ? {NOT_BEHIND_ANOTHER}
    ORDER BY o.id LIMIT ?
"""
# When the next head comes due (rows behind a head wait for it, whatever their own time).
NEXT_DUE = f"""
    SELECT MIN(o.next_attempt_at) FROM outbox AS o
    WHERE o.state = 'pending' {NOT_BEHIND_ANOTHER}
"""
CLAIM = "UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ? AND state = 'pending'"
DELIVERED = (
    "UPDATE outbox SET state = 'delivered', outcome = ?, result = ?, last_error = ?, "
    "last_code = ?, attempts = attempts + 1, delivered_at = ?, updated_at = ? WHERE id = ?"
)
RETRY_LATER = (
    "UPDATE outbox SET state = 'pending', attempts = attempts + ?, next_attempt_at = ?, "
    "last_error = ?, last_code = ?, updated_at = ? WHERE id = ?"
)
DEAD = (
    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, last_code = ?, "
    "updated_at = ? WHERE id = ?"
)
REWRITE_BODY = (
    "UPDATE outbox SET body = ?, hold_reference = ?, outcome = ?, updated_at = ? WHERE id = ?"
)
REQUEUE_INFLIGHT = "UPDATE outbox SET state = 'pending', updated_at = ? WHERE state = 'inflight'"
DUE_NOW = "UPDATE outbox SET next_attempt_at = 0 WHERE state = 'pending' AND next_attempt_at > ?"
MANUAL_RETRY = (
    "UPDATE outbox SET state = 'pending', next_attempt_at = 0, updated_at = ? "
    "WHERE id = ? AND state = 'dead'"
)
DISCARD = (
    "UPDATE outbox SET state = 'discarded', discard_reason = ?, updated_at = ? "
    "WHERE id = ? AND state IN ('pending', 'dead')"
)
COUNT_BY_STATE = "SELECT state, COUNT(*) FROM outbox GROUP BY state"
COUNT_OUTCOME = "SELECT COUNT(*) FROM outbox WHERE outcome = ?"
PRUNE = "DELETE FROM outbox WHERE state IN ('delivered', 'discarded') AND updated_at < ?"


class Item(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One outbox row, in column order."""

    id: int
    kind: Kind
    idem_key: str
    fingerprint: bytes
    customer_id: str
    body: bytes
    amount: float
    tx_ms: int | None
    after_key: str | None
    hold_reference: str | None
    state: State
    outcome: str | None
    attempts: int
    next_attempt_at: float
    last_error: str | None
    last_code: int | None
    result: bytes | None
    created_at: float
    updated_at: float
    delivered_at: float | None
    discard_reason: str | None


class NewItem(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    idem_key: str
    fingerprint: bytes
    customer_id: str
    body: bytes
    amount: float = 0.0
    tx_ms: int | None = None
    time_field: str | None = None
    after_key: str | None = None
    hold_reference: str | None = None


class QueueFull(Exception):
    """An offline limit refused the row; ``code`` and the message say which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    max_count: int
    max_amount: float


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    open_count: int
    open_amount: float
    oldest_created_at: float | None
    by_state: dict[str, int]
    redemption_failed: int


class Outbox:
    def __init__(self, storage: Storage, sealer: Sealer | None = None) -> None:
        self._storage = storage
        self._sealer = sealer or Sealer(None)

    async def check_key(self) -> None:
        """Fail at start, with a clear message, if sealed rows could not be opened later."""
        saved = await self._storage.get_value(KEY_CHECK)
        if saved is not None:
            if self._sealer.open(saved[0]) != CHECK_PLAINTEXT:
                raise SealError("the encryption key check did not match")
        elif self._sealer.enabled:
            await self._storage.put_value(KEY_CHECK, self._sealer.seal(CHECK_PLAINTEXT), 0.0)

    async def enqueue(
        self, new: NewItem, *, now: float, limits: Limits | None, claim: bool
    ) -> tuple[Item, bool, bool]:
        """Store the row, or find the one already stored under its key.

        Returns (row, created, claimed). With ``claim`` the new row starts ``inflight`` if it
        is the only open row for its customer, so the caller may deliver it at once without
        overtaking an older row. ``limits`` (offline only) may refuse with ``QueueFull``."""

        def work(db: sqlite3.Connection) -> tuple[Any, bool, bool]:
            existing = db.execute(SELECT_BY_KEY, (new.idem_key,)).fetchone()
            if existing is not None:
                return existing, False, False
            if limits is not None:
                _check_limits(db, new, limits)
            tx_ms = _free_tx_ms(db, new.customer_id, new.tx_ms)
            body = new.body
            if tx_ms != new.tx_ms and tx_ms is not None and new.time_field:
                body = _retime(body, new.time_field, tx_ms)
            ahead = db.execute(OPEN_FOR_CUSTOMER, (new.customer_id,)).fetchone()[0]
            claimed = claim and ahead == 0
            state = "inflight" if claimed else "pending"
            values = (
                new.kind,
                new.idem_key,
                new.fingerprint,
                new.customer_id,
                self._sealer.seal(body),
                new.amount,
                tx_ms,
                new.after_key,
                new.hold_reference,
                state,
                now,
                now,
            )
            row_id = db.execute(INSERT, values).lastrowid
            # The row as stored, without reading it back: id, then the columns in order.
            row = (row_id, *values[:10], None, 0, 0.0, None, None, None, now, now, None, None)
            return row, True, claimed

        row, created, claimed = await self._storage.run_in_transaction(work)
        return self._item(row), created, claimed

    async def get(self, item_id: int) -> Item | None:
        row = await self._storage.fetchone(SELECT_BY_ID, (item_id,))
        return self._item(row) if row else None

    async def by_key(self, idem_key: str) -> Item | None:
        row = await self._storage.fetchone(SELECT_BY_KEY, (idem_key,))
        return self._item(row) if row else None

    async def ready_heads(self, now: float, limit: int) -> list[Item]:
        return [self._item(r) for r in await self._storage.fetchall(READY_HEADS, (now, limit))]

    async def next_due(self) -> float | None:
        row = await self._storage.fetchone(NEXT_DUE)
        return float(row[0]) if row and row[0] is not None else None

    async def claim(self, item_id: int, now: float) -> bool:
        return await self._storage.execute(CLAIM, (now, item_id)) == 1

    async def delivered(
        self,
        item_id: int,
        *,
        outcome: str,
        result: bytes | None,
        now: float,
        note: str | None = None,
        code: int | None = None,
    ) -> None:
        sealed = self._sealer.seal(result) if result is not None else None
        await self._storage.execute(DELIVERED, (outcome, sealed, note, code, now, now, item_id))

    async def retry_later(
        self,
        item_id: int,
        *,
        at: float,
        error: str,
        code: int | None,
        now: float,
        counts: bool = True,
    ) -> None:
        attempt = 1 if counts else 0
        await self._storage.execute(RETRY_LATER, (attempt, at, error, code, now, item_id))

    async def dead(self, item_id: int, *, error: str, code: int | None, now: float) -> None:
        await self._storage.execute(DEAD, (error, code, now, item_id))

    async def rewrite_body(
        self, item_id: int, *, body: bytes, hold_reference: str | None, outcome: str, now: float
    ) -> None:
        sealed = self._sealer.seal(body)
        await self._storage.execute(REWRITE_BODY, (sealed, hold_reference, outcome, now, item_id))

    async def requeue_inflight(self, now: float) -> int:
        """At start: whatever was in flight when the process died goes back in the queue."""
        return await self._storage.execute(REQUEUE_INFLIGHT, (now,))

    async def make_all_due(self, now: float) -> int:
        """Connectivity is back: stop waiting out backoffs that were about the outage."""
        return await self._storage.execute(DUE_NOW, (now,))

    async def manual_retry(self, item_id: int, now: float) -> bool:
        return await self._storage.execute(MANUAL_RETRY, (now, item_id)) == 1

    async def discard(self, item_id: int, reason: str, now: float) -> bool:
        return await self._storage.execute(DISCARD, (reason, now, item_id)) == 1

    async def listing(
        self,
        *,
        states: Sequence[str] = (),
        customer_id: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[Item]:
        where: list[str] = ["id > ?"]
        params: list[object] = [after_id]
        if states:
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(customer_id)
        if outcome is not None:
            where.append("outcome = ?")
            params.append(outcome)
        sql = f"SELECT {COLUMNS} FROM outbox WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        rows = await self._storage.fetchall(sql, (*params, limit))
        return [self._item(r) for r in rows]

    async def totals(self) -> Totals:
        count, amount = await self._storage.fetchone(OPEN_TOTALS)
        (oldest,) = await self._storage.fetchone(OLDEST_OPEN)
        by_state = {state: n for state, n in await self._storage.fetchall(COUNT_BY_STATE)}
        failed = await self._storage.fetchone(COUNT_OUTCOME, ("redemption_failed",))
        return Totals(
            open_count=int(count),
            open_amount=float(amount),
            oldest_created_at=float(oldest) if oldest is not None else None,
            by_state=by_state,
            redemption_failed=int(failed[0]),
        )

    async def prune(self, before: float) -> int:
        return await self._storage.execute(PRUNE, (before,))

    def _item(self, row: Sequence[Any]) -> Item:
        item = msgspec.convert(tuple(row), Item)
        if self._sealer.enabled or item.body.startswith(MARKER):
            result = self._sealer.open(item.result) if item.result else item.result
            item = msgspec.structs.replace(item, body=self._sealer.open(item.body), result=result)
        return item


def _check_limits(db: sqlite3.Connection, new: NewItem, limits: Limits) -> None:
    count, amount = db.execute(OPEN_TOTALS).fetchone()
    if count + 1 > limits.max_count:
        raise QueueFull(
            "OFFLINE_QUEUE_FULL",
            f"{count} calls are already waiting for Gameball, the most this terminal may hold "
            "offline; finish the sale without loyalty and ask store IT to restore the connection",
        )
    if amount + new.amount > limits.max_amount:
        raise QueueFull(
            "OFFLINE_AMOUNT_LIMIT",
            f"queuing this payment would take the amount waiting for Gameball past "
            f"{limits.max_amount:g}; finish the sale without loyalty until the store is online",
        )


def _free_tx_ms(db: sqlite3.Connection, customer_id: str, tx_ms: int | None) -> int | None:
    """Gameball refuses two transactions of one customer at the same millisecond (9003)."""
    if tx_ms is None:
        return None
    while db.execute(TX_MS_TAKEN, (customer_id, tx_ms)).fetchone() is not None:
        tx_ms += 1
    return tx_ms


def _retime(body: bytes, field: str, tx_ms: int) -> bytes:
    document = msgspec.json.decode(body)
    document[field] = iso_ms(tx_ms / 1000)
    return msgspec.json.encode(document)

"""The durable outbox: every call that must reach Gameball (payments, refunds, hold releases) is a
row here, committed before the POS hears a 2xx, and moved through its states by delivery.

States: pending -> inflight -> delivered | pending (retry) | dead; dead -> pending (retry by
hand) | discarded (with a reason). Rows for one customer are delivered in id order, except that
a refund waiting for its payment steps aside (``blocking = 0``) and goes once the payment has."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from .sealing import CHECK_PLAINTEXT, MARKER, Sealer, SealError
from .storage import Storage
from .timefmt import iso_ms

KEY_CHECK = "sealing:check"
# A row that has failed this often is shown on status: something keeps refusing or failing it.
STRUGGLING_ATTEMPTS = 5

Kind = Literal["payment", "refund", "release"]
State = Literal["pending", "inflight", "delivered", "dead", "discarded"]

COLUMNS = (
    "id, kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, after_key, "
    "hold_reference, state, outcome, attempts, next_attempt_at, last_error, last_code, result, "
    "created_at, updated_at, delivered_at, discard_reason, uncertain, blocking, note"
)
SELECT_BY_KEY = f"SELECT {COLUMNS} FROM outbox WHERE idem_key = ?"
SELECT_BY_ID = f"SELECT {COLUMNS} FROM outbox WHERE id = ?"
OPEN_FOR_CUSTOMER = (
    "SELECT COUNT(*) FROM outbox WHERE customer_id = ? AND state IN ('pending', 'inflight') "
    "AND blocking = 1"
)
IS_OPEN = "SELECT 1 FROM outbox WHERE idem_key = ? AND state IN ('pending', 'inflight')"
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
    "after_key, hold_reference, state, created_at, updated_at, blocking) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Refunds stored before their payment: they wait for it without holding up anything else.
PARK_WAITING = (
    "UPDATE outbox SET blocking = 0 WHERE after_key = ? AND state IN ('pending', 'inflight')"
)
# The payment has left the queue: what waited for it may go now, in its place again.
UNPARK_WAITING = (
    "UPDATE outbox SET blocking = 1, next_attempt_at = 0 WHERE after_key = ? AND state = 'pending'"
)
HOLD_FOR_SALE = "SELECT customer_id, state, claimed_by FROM holds WHERE hold_reference = ?"
HOLD_CLAIM = "UPDATE holds SET claimed_by = ? WHERE hold_reference = ?"
HOLD_UNCLAIM = "UPDATE holds SET claimed_by = NULL WHERE claimed_by = ?"
HOLD_RELEASED = (
    "UPDATE holds SET state = 'released', updated_at = ? "
    "WHERE hold_reference = ? AND state IN ('active', 'expired')"
)
HOLD_USED = "UPDATE holds SET state = 'used', updated_at = ? WHERE hold_reference = ?"
HOLD_RECLAIM = "UPDATE holds SET claimed_by = ? WHERE hold_reference = ? AND claimed_by IS NULL"
# The head of each customer's queue, if it is due: oldest first, walking pending rows in id
# order and stopping at the limit (a row is a head when nothing older of its customer is open
# and in the way, and what it waits for, if anything, has left the queue).
NOT_BEHIND_ANOTHER = """
      AND NOT EXISTS (SELECT 1 FROM outbox AS p
                      WHERE p.customer_id = o.customer_id
                        AND p.state IN ('pending', 'inflight') AND p.id < o.id
                        AND p.blocking = 1)
      AND (o.after_key IS NULL
           OR NOT EXISTS (SELECT 1 FROM outbox AS a WHERE a.idem_key = o.after_key
                          AND a.state IN ('pending', 'inflight')))
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
    "last_error = ?, last_code = ?, updated_at = ?, uncertain = MAX(uncertain, ?), "
    "blocking = COALESCE(?, blocking) WHERE id = ?"
)
DEAD = (
    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, last_code = ?, "
    "updated_at = ? WHERE id = ?"
)
REWRITE_BODY = (
    "UPDATE outbox SET body = ?, hold_reference = ?, outcome = ?, note = ?, updated_at = ? "
    "WHERE id = ?"
)
# Whatever was in flight at a crash may have reached Gameball: its next 9004 means "landed".
REQUEUE_INFLIGHT = (
    "UPDATE outbox SET state = 'pending', uncertain = 1, updated_at = ? WHERE state = 'inflight'"
)
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
COUNT_STRUGGLING = "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND attempts >= ?"
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
    uncertain: int  # 0 or 1, as SQLite keeps it
    blocking: int
    note: str | None


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
    # "burn": a sale naming a hold (refused if the hold is another customer's, used, released
    # or named by another sale); "release": giving a hold back (refused once a sale names it).
    hold_action: Literal["burn", "release"] | None = None


class Refused(Exception):
    """The row was not stored: an offline limit, or the hold it names; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Checked only for a new row (an identical resend gets its stored outcome, whatever)."""

    max_count: int
    max_amount: float
    max_item_amount: float = float("inf")
    # Set when the terminal has been offline too long to queue anything: the refusal's text.
    too_long: str | None = None


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    open_count: int
    open_amount: float
    oldest_created_at: float | None
    by_state: dict[str, int]
    redemption_failed: int
    struggling: int


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
        overtaking an older row. ``limits`` (offline only) and the hold the row names may refuse
        it with ``Refused``."""

        def work(db: sqlite3.Connection) -> tuple[Any, bool, bool]:
            existing = db.execute(SELECT_BY_KEY, (new.idem_key,)).fetchone()
            if existing is not None:
                return existing, False, False
            if new.hold_action is not None and new.hold_reference is not None:
                _check_hold(db, new, now)
            if limits is not None:
                _check_limits(db, new, limits)
            tx_ms = _free_tx_ms(db, new.customer_id, new.tx_ms)
            body = new.body
            if tx_ms != new.tx_ms and tx_ms is not None and new.time_field:
                body = _retime(body, new.time_field, tx_ms)
            waits = new.after_key is not None and db.execute(IS_OPEN, (new.after_key,)).fetchone()
            ahead = db.execute(OPEN_FOR_CUSTOMER, (new.customer_id,)).fetchone()[0]
            claimed = claim and ahead == 0 and not waits
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
                0 if waits else 1,
            )
            row_id = db.execute(INSERT, values).lastrowid
            if new.kind == "payment":
                db.execute(PARK_WAITING, (new.idem_key,))
            # The row as stored, without reading it back: id, then the columns in order.
            row = (row_id, *values[:10], None, 0, 0.0, None, None, None, now, now, None, None)
            return (*row, 0, values[12], None), True, claimed

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
        item: Item,
        *,
        outcome: str,
        result: bytes | None,
        now: float,
        note: str | None = None,
        code: int | None = None,
    ) -> None:
        """Record the delivery; a hold the row burned is used from now on, and refunds that
        waited for this payment may go."""
        sealed = self._sealer.seal(result) if result is not None else None

        def work(db: sqlite3.Connection) -> None:
            db.execute(DELIVERED, (outcome, sealed, note, code, now, now, item.id))
            if item.kind == "payment":
                db.execute(UNPARK_WAITING, (item.idem_key,))
                if item.hold_reference:
                    db.execute(HOLD_USED, (now, item.hold_reference))

        await self._storage.run_in_transaction(work)

    async def retry_later(
        self,
        item_id: int,
        *,
        at: float,
        error: str,
        code: int | None,
        now: float,
        counts: bool = True,
        uncertain: bool = False,
        blocking: bool | None = None,
    ) -> None:
        """Back to the queue. ``uncertain``: this send may have reached Gameball. ``blocking``
        False lets the customer's later calls go first (a refund waiting for its payment)."""
        attempt = 1 if counts else 0
        await self._storage.execute(
            RETRY_LATER,
            (attempt, at, error, code, now, int(uncertain), blocking, item_id),
        )

    async def dead(self, item: Item, *, error: str, code: int | None, now: float) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(DEAD, (error, code, now, item.id))
            _left_the_queue(db, item)

        await self._storage.run_in_transaction(work)

    async def rewrite_body(
        self,
        item_id: int,
        *,
        body: bytes,
        hold_reference: str | None,
        outcome: str,
        note: str | None,
        now: float,
    ) -> None:
        sealed = self._sealer.seal(body)
        await self._storage.execute(
            REWRITE_BODY, (sealed, hold_reference, outcome, note, now, item_id)
        )

    async def requeue_inflight(self, now: float) -> int:
        """At start: whatever was in flight when the process died goes back in the queue."""
        return await self._storage.execute(REQUEUE_INFLIGHT, (now,))

    async def make_all_due(self, now: float) -> int:
        """Connectivity is back: stop waiting out backoffs that were about the outage."""
        return await self._storage.execute(DUE_NOW, (now,))

    async def manual_retry(self, item: Item, now: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            if db.execute(MANUAL_RETRY, (now, item.id)).rowcount != 1:
                return False
            if item.kind == "payment":
                db.execute(PARK_WAITING, (item.idem_key,))
                if item.hold_reference:
                    db.execute(HOLD_RECLAIM, (item.idem_key, item.hold_reference))
            return True

        return await self._storage.run_in_transaction(work)

    async def discard(self, item: Item, reason: str, now: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            if db.execute(DISCARD, (reason, now, item.id)).rowcount != 1:
                return False
            _left_the_queue(db, item)
            return True

        return await self._storage.run_in_transaction(work)

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
        struggling = await self._storage.fetchone(COUNT_STRUGGLING, (STRUGGLING_ATTEMPTS,))
        return Totals(
            open_count=int(count),
            open_amount=float(amount),
            oldest_created_at=float(oldest) if oldest is not None else None,
            by_state=by_state,
            redemption_failed=int(failed[0]),
            struggling=int(struggling[0]),
        )

    async def prune(self, before: float) -> int:
        return await self._storage.execute(PRUNE, (before,))

    def _item(self, row: Sequence[Any]) -> Item:
        item = msgspec.convert(tuple(row), Item)
        if self._sealer.enabled or item.body.startswith(MARKER):
            result = self._sealer.open(item.result) if item.result else item.result
            item = msgspec.structs.replace(item, body=self._sealer.open(item.body), result=result)
        return item


def _left_the_queue(db: sqlite3.Connection, item: Item) -> None:
    """A row ended without being delivered: what waited for it may go (and will learn why),
    and a hold it named is free for another sale."""
    if item.kind == "payment":
        db.execute(UNPARK_WAITING, (item.idem_key,))
        db.execute(HOLD_UNCLAIM, (item.idem_key,))


def _check_hold(db: sqlite3.Connection, new: NewItem, now: float) -> None:
    """A hold made on this terminal belongs to its customer, and is burned or given back once."""
    row = db.execute(HOLD_FOR_SALE, (new.hold_reference,)).fetchone()
    if row is None:
        return  # made elsewhere (another till): Gameball is the judge
    customer_id, state, claimed_by = row
    reference = new.hold_reference
    if new.hold_action == "release":
        if state in ("used", "redeeming") or claimed_by is not None:
            raise Refused(
                "HOLD_ALREADY_USED",
                f"hold {reference!r} is already being redeemed by a sale"
                + (f" ({claimed_by.partition(':')[2]!r})" if claimed_by else "")
                + ", so it cannot be released",
            )
        db.execute(HOLD_RELEASED, (now, reference))
        return
    if customer_id != new.customer_id:
        raise Refused(
            "HOLD_BELONGS_TO_ANOTHER_CUSTOMER",
            f"hold {reference!r} was made for another customer; a sale may only redeem the "
            "points its own customer held",
        )
    if state == "released":
        raise Refused(
            "HOLD_RELEASED",
            f"hold {reference!r} was released; hold the points again for this sale",
        )
    if state in ("used", "redeeming") or claimed_by not in (None, new.idem_key):
        named = f" by sale {claimed_by.partition(':')[2]!r}" if claimed_by else ""
        raise Refused(
            "HOLD_ALREADY_USED",
            f"hold {reference!r} was already redeemed{named}; do not give the discount twice",
        )
    db.execute(HOLD_CLAIM, (new.idem_key, reference))


def _check_limits(db: sqlite3.Connection, new: NewItem, limits: Limits) -> None:
    if limits.too_long is not None:
        raise Refused("OFFLINE_TOO_LONG", limits.too_long)
    if new.amount > limits.max_item_amount:
        raise Refused(
            "OFFLINE_PAYMENT_LIMIT",
            f"payments over {limits.max_item_amount:g} are not queued while Gameball is "
            "unreachable; complete the sale without loyalty points",
        )
    count, amount = db.execute(OPEN_TOTALS).fetchone()
    if count + 1 > limits.max_count:
        raise Refused(
            "OFFLINE_QUEUE_FULL",
            f"{count} calls are already waiting for Gameball, the most this terminal may hold "
            "offline; finish the sale without loyalty and ask store IT to restore the connection",
        )
    if amount + new.amount > limits.max_amount:
        raise Refused(
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

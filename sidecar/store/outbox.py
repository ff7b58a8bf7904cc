"""The durable outbox: every call that must reach Gameball is a row here, committed before the
POS hears a 2xx, and moved through its states by delivery.

States: pending -> inflight -> delivered | pending (retry) | dead; dead -> pending (retry by
hand) | discarded (with a reason). Rows for one customer are delivered in id order, except that
a row waiting for another (a refund for its payment) steps aside (``blocking = 0``) and goes
once that one has left the queue; the schema's triggers keep those links and hold claims."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ..errors import SealError
from ..timefmt import iso_ms
from . import queries
from .database import Database
from .rows import (
    ONE_ID_LIST,
    TIME_FIELDS,
    Admission,
    Check,
    Item,
    NewItem,
    Stored,
    Totals,
    hold_facts,
)
from .sealing import CHECK_PLAINTEXT, MARKER, Sealer

KEY_CHECK = "sealing:check"
# A row that has failed this often is shown on status: something keeps refusing or failing it.
STRUGGLING_ATTEMPTS = 5


class Outbox:
    def __init__(self, database: Database, sealer: Sealer | None = None) -> None:
        self._db = database
        self._sealer = sealer or Sealer(None)

    async def check_key(self) -> None:
        """Fail at start, with a clear message, if sealed rows could not be opened later."""
        saved = await self._db.get_value(KEY_CHECK)
        if saved is not None:
            if self._sealer.open(saved[0]) != CHECK_PLAINTEXT:
                raise SealError("the encryption key check did not match")
        elif self._sealer.enabled:
            await self._db.put_value(KEY_CHECK, self._sealer.seal(CHECK_PLAINTEXT), 0.0)

    async def enqueue(
        self, new: NewItem, *, now: float, check: Check | None = None, claim: bool
    ) -> Stored:
        """Store the row, or find the one already stored under its key (an identical resend
        is answered from it, whatever ``check`` would say now).

        ``check`` may refuse the new row by raising (an offline limit, a hold it may not burn).
        With ``claim`` the row starts ``inflight`` if nothing of its customer is in its way, so
        the caller may deliver it at once without overtaking an older row. Two statements in
        one serialized step: no other statement of this process lands between them."""
        params = {
            "hold": new.hold_reference,
            "lock": new.lock_reference,
            "after": new.after_key,
            "customer": new.customer_id,
            "ms": new.tx_ms,
            "key": new.idem_key,
            "tx": new.idem_key.partition(":")[2] if new.kind in ONE_ID_LIST else None,
        }
        async with self._db.serialized() as statements:
            read = await statements.fetchone(queries.ADMISSION, params)
            hold_named_by, lock_named_by, count, amount, waits, ahead, tx_ms, taken = read[6:14]
            hold_expires_at, provisional = read[14:16]
            if read[16] is not None:
                return Stored(item=self._item(read[16:]), created=False, claimed=False)
            if check is not None:
                check(
                    Admission(
                        new=new,
                        hold=hold_facts(
                            read[0], read[1], read[2], hold_expires_at, bool(provisional)
                        ),
                        lock=hold_facts(*read[3:6]),
                        hold_named_by=hold_named_by,
                        lock_named_by=lock_named_by,
                        id_taken_by=taken,
                        now=now,
                        open_count=int(count),
                        open_amount=float(amount),
                    )
                )
            body = new.body
            if tx_ms != new.tx_ms and new.kind in TIME_FIELDS:
                body = _retime(body, TIME_FIELDS[new.kind], tx_ms)
            claimed = claim and not ahead and not waits
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
                "inflight" if claimed else "pending",
                now,
                now,
                0 if waits else 1,
                new.hold_action,
                new.lock_reference,
            )
            changed = await statements.execute(queries.INSERT, values)
        # The row as stored, without reading it back: id, then the columns in order.
        row = (changed.last_id, *values[:10], None, 0, 0.0, None, None, None, now, now)
        item = self._item(
            (
                *row,
                None,
                None,
                0,
                values[12],
                None,
                new.hold_action,
                new.lock_reference,
                None,
                None,
            )
        )
        return Stored(item=item, created=True, claimed=claimed)

    async def get(self, item_id: int) -> Item | None:
        row = await self._db.fetchone(queries.SELECT_BY_ID, (item_id,))
        return self._item(row) if row else None

    async def by_key(self, idem_key: str) -> Item | None:
        row = await self._db.fetchone(queries.SELECT_BY_KEY, (idem_key,))
        return self._item(row) if row else None

    async def latest_of_kind(self, kind: str, customer_id: str) -> Item | None:
        row = await self._db.fetchone(queries.SELECT_LATEST_OF_KIND, (kind, customer_id))
        return self._item(row) if row else None

    async def ready_heads(self, now: float, limit: int) -> list[Item]:
        rows = await self._db.fetchall(queries.READY_HEADS, (now, limit))
        return [self._item(r) for r in rows]

    async def next_due(self) -> float | None:
        row = await self._db.fetchone(queries.NEXT_DUE)
        return float(row[0]) if row and row[0] is not None else None

    async def claim(self, item_id: int, now: float) -> bool:
        return await self._db.execute(queries.CLAIM, (now, item_id)) == 1

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
        """Record the delivery (the schema then marks the hold it burned used, and lets what
        waited for it go)."""
        sealed = self._sealer.seal(result) if result is not None else None
        await self._db.execute(queries.DELIVERED, (outcome, sealed, note, code, now, now, item.id))

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
        await self._db.execute(
            queries.RETRY_LATER,
            (attempt, at, error, code, now, int(uncertain), blocking, item_id),
        )

    async def dead(self, item: Item, *, error: str, code: int | None, now: float) -> None:
        """Refused for good (the schema then frees the hold it named)."""
        await self._db.execute(queries.DEAD, (error, code, now, item.id))

    async def rewrite_body(
        self,
        item_id: int,
        *,
        body: bytes,
        hold_reference: str | None,
        lock_reference: str | None,
        outcome: str,
        note: str | None,
        now: float,
        absorbed: tuple[float, float] | None = None,
    ) -> None:
        """``absorbed``: the points and money value the till discounted that Gameball will not
        redeem now (the merchant carries them)."""
        sealed = self._sealer.seal(body)
        points, value = absorbed if absorbed is not None else (None, None)
        await self._db.execute(
            queries.REWRITE_BODY,
            (sealed, hold_reference, lock_reference, outcome, note, points, value, now, item_id),
        )

    async def retime(self, item: Item, now: float) -> Item:
        """Gameball has a transaction of this customer at this very millisecond (another till):
        move this one to the next millisecond no row of the customer uses."""
        if item.tx_ms is None or item.kind not in TIME_FIELDS:
            return item
        (free,) = await self._db.fetchone(queries.FREE_TX_MS, (item.tx_ms + 1, item.customer_id))
        body = _retime(item.body, TIME_FIELDS[item.kind], int(free))
        await self._db.execute(queries.RETIME, (self._sealer.seal(body), free, now, item.id))
        return msgspec.structs.replace(item, body=body, tx_ms=int(free))

    async def requeue_inflight(self, now: float) -> int:
        """At start: whatever was in flight when the process died goes back in the queue."""
        return await self._db.execute(queries.REQUEUE_INFLIGHT, (now,))

    async def make_all_due(self, now: float) -> int:
        """Connectivity is back: stop waiting out backoffs that were about the outage."""
        return await self._db.execute(queries.DUE_NOW, (now,))

    async def manual_retry(self, item: Item, now: float) -> bool:
        return await self._db.execute(queries.MANUAL_RETRY, (now, item.id)) == 1

    async def discard(self, item: Item, reason: str, now: float) -> bool:
        return await self._db.execute(queries.DISCARD, (reason, now, item.id)) == 1

    async def listing(
        self,
        *,
        states: Sequence[str] = (),
        customer_id: str | None = None,
        outcome: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[Item]:
        params = {
            "after": after_id,
            "states": f",{','.join(states)}," if states else "",
            "customer": customer_id,
            "outcome": outcome,
            "kind": kind,
            "limit": limit,
        }
        return [self._item(r) for r in await self._db.fetchall(queries.LISTING, params)]

    async def totals(self) -> Totals:
        count, amount = await self._db.fetchone(queries.OPEN_TOTALS)
        (oldest,) = await self._db.fetchone(queries.OLDEST_OPEN)
        by_state = {state: n for state, n in await self._db.fetchall(queries.COUNT_BY_STATE)}
        (failed,) = await self._db.fetchone(queries.COUNT_OUTCOME, ("redemption_failed",))
        absorbed_points, absorbed_value = await self._db.fetchone(queries.ABSORBED)
        (struggling,) = await self._db.fetchone(queries.COUNT_STRUGGLING, (STRUGGLING_ATTEMPTS,))
        return Totals(
            open_count=int(count),
            open_amount=float(amount),
            oldest_created_at=float(oldest) if oldest is not None else None,
            by_state=by_state,
            redemption_failed=int(failed),
            absorbed_points=float(absorbed_points),
            absorbed_value=float(absorbed_value),
            struggling=int(struggling),
        )

    async def prune(self, before: float) -> int:
        return await self._db.execute(queries.PRUNE, (before,))

    def _item(self, row: Sequence[Any]) -> Item:
        item = msgspec.convert(tuple(row), Item)
        if self._sealer.enabled or item.body.startswith(MARKER):
            result = self._sealer.open(item.result) if item.result else item.result
            item = msgspec.structs.replace(item, body=self._sealer.open(item.body), result=result)
        return item


def _retime(body: bytes, field: str, tx_ms: int) -> bytes:
    document = msgspec.json.decode(body)
    document[field] = iso_ms(tx_ms / 1000)
    return msgspec.json.encode(document)

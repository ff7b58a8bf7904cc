"""A database as the previous release (0.1.0, schema version 3, i.e. ``MIGRATIONS[:3]``) left
it: its PRAGMAs, its INSERT statements and its row formats, copied from that release's code
(``sidecar/outbox.py``, ``sidecar/sales.py`` and ``sidecar/storage.py`` at commit 12b92e3), so an
upgrade test can start the current sidecar on what a store really has on disk."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from sidecar.store.database import DB_NAME
from sidecar.store.migrations import MIGRATIONS
from sidecar.timefmt import iso_ms

RELEASE = "0.1.0"
RELEASE_COMMIT = "12b92e3"
SCHEMA_VERSION = 3
# The store identity as 0.1.0 stamped it on each body (GbMerchant, omit_defaults).
MERCHANT = {"uniqueId": "merchant-42", "name": "Acme Coffee", "branch": {"uniqueId": "branch-7"}}
TERMINAL = "till-3"

Kind = Literal["payment", "refund", "release"]
State = Literal["pending", "inflight", "delivered", "dead"]

# 0.1.0's statements, verbatim.
INSERT = (
    "INSERT INTO outbox (kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, "
    "after_key, hold_reference, state, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
RETRY_LATER = (
    "UPDATE outbox SET state = 'pending', attempts = attempts + ?, next_attempt_at = ?, "
    "last_error = ?, last_code = ?, updated_at = ? WHERE id = ?"
)
CLAIM = "UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ? AND state = 'pending'"
DELIVERED = (
    "UPDATE outbox SET state = 'delivered', outcome = ?, result = ?, last_error = ?, "
    "last_code = ?, attempts = attempts + 1, delivered_at = ?, updated_at = ? WHERE id = ?"
)
HOLD_INSERT = (
    "INSERT INTO holds (hold_reference, checkout_id, fingerprint, customer_id, hold_points, "
    "hold_amount, state, expires_at, answer, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PRUNE = "DELETE FROM outbox WHERE state IN ('delivered', 'discarded') AND updated_at < ?"


@dataclass(frozen=True, kw_only=True)
class Row:
    """One outbox row and what 0.1.0 had done with it by the time it stopped."""

    kind: Kind
    key: str  # paymentId, refundId or hold reference
    customer: str
    body: bytes
    amount: float = 0.0
    tx_ms: int | None = None
    after_key: str | None = None
    hold_reference: str | None = None
    # pending, never sent; "uncertain": sent, no answer (timeout, reset, 5xx); inflight: on the
    # wire when the process died; delivered: answered 200 (history, within retention).
    fate: Literal["pending", "uncertain", "inflight", "delivered"] = "pending"

    @property
    def idem_key(self) -> str:
        return f"{self.kind}:{self.key}"


def payment_body(
    customer: str, payment_id: str, paid: float, at: float, **fields: Any
) -> dict[str, Any]:
    """Sales.finalize in 0.1.0: the request without its None fields, its time in Gameball's
    form, the store's merchant, channel "pos" and the terminal in ``extra``."""
    body: dict[str, Any] = {"customerId": customer, "paymentId": payment_id, "totalPaid": paid}
    body |= fields
    body["paymentDate"] = iso_ms(at)
    body["merchant"] = MERCHANT
    body["channel"] = "pos"
    body["extra"] = {"terminalId": TERMINAL, **(body.get("extra") or {})}
    return body


def refund_body(
    customer: str, refund_id: str, payment_id: str, at: float, amount: float | None
) -> dict[str, Any]:
    """Sales.refund in 0.1.0."""
    body: dict[str, Any] = {
        "customerId": customer,
        "refundTransactionId": refund_id,
        "reverseTransactionId": payment_id,
        "transactionTime": iso_ms(at),
        "merchant": MERCHANT,
    }
    if amount is not None:
        body["refundAmount"] = amount
    return body


def payment(customer: str, payment_id: str, paid: float, at: float, **fields: Any) -> Row:
    body = payment_body(customer, payment_id, paid, at, **fields)
    redemption = fields.get("redemption") or {}
    return Row(
        kind="payment",
        key=payment_id,
        customer=customer,
        body=msgspec.json.encode(body),
        amount=paid,
        tx_ms=int(at * 1000),
        hold_reference=redemption.get("pointsHoldReference"),
    )


def refund(customer: str, refund_id: str, payment_id: str, at: float, amount: float) -> Row:
    return Row(
        kind="refund",
        key=refund_id,
        customer=customer,
        body=msgspec.json.encode(refund_body(customer, refund_id, payment_id, at, amount)),
        tx_ms=int(at * 1000),
        after_key=f"payment:{payment_id}",
    )


def release(customer: str, reference: str) -> Row:
    return Row(
        kind="release", key=reference, customer=customer, body=b"{}", hold_reference=reference
    )


@dataclass(frozen=True, kw_only=True)
class Hold:
    reference: str
    checkout_id: str
    customer: str
    points: float
    amount: float
    state: Literal["active", "used", "released"]
    expires_at: float


def write(
    data_dir: Path,
    rows: Iterable[Row],
    holds: Iterable[Hold] = (),
    *,
    now: float,
    pruned: int = 0,
) -> Path:
    """Create the database 0.1.0 would have left in ``data_dir``: schema version 3, these holds,
    these rows in this order (ids ascending), each taken through 0.1.0's own statements to its
    fate; ``pruned`` delivered rows deleted first, as its retention did, so ids have a gap."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_NAME
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for number, script in enumerate(MIGRATIONS[:SCHEMA_VERSION], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number:d};\nCOMMIT;")
        db.execute("BEGIN")
        for n in range(pruned):
            gone = Row(
                kind="release", key=f"pruned-{n}", customer="pruned", body=b"{}", fate="delivered"
            )
            _take_to_fate(db, gone, now - 30 * 86400.0)
        db.execute(PRUNE, (now - 7 * 86400.0,))
        for hold in holds:
            _insert_hold(db, hold, now)
        for row in rows:
            _take_to_fate(db, row, now)
        db.execute("COMMIT")
    return path


def add_history(data_dir: Path, count: int, *, now: float) -> None:
    """``count`` payments 0.1.0 delivered yesterday (kept for retention), of about 1 KB each as
    a basket of a dozen lines makes them: the volume an upgrade has to copy."""
    lines = [{"serviceId": f"item-{n:02d}", "amount": 4.5, "quantity": 1} for n in range(12)]
    yesterday = now - 86400.0
    with closing(sqlite3.connect(data_dir / DB_NAME, isolation_level=None)) as db:
        db.execute("BEGIN")
        for n in range(count):
            customer = f"hist-{n % 500:03d}"
            at = yesterday + n / 1000
            row = payment(customer, f"hist-{n:06d}", 54.0, at, paymentDetails=lines)
            _take_to_fate(db, dataclasses.replace(row, fate="delivered"), yesterday)
        db.execute("COMMIT")


def _insert(db: sqlite3.Connection, row: Row, now: float) -> int:
    fingerprint = b"release" if row.kind == "release" else row.key.encode()
    cursor = db.execute(
        INSERT,
        (
            row.kind,
            row.idem_key,
            fingerprint,
            row.customer,
            row.body,
            row.amount,
            row.tx_ms,
            row.after_key,
            row.hold_reference,
            "pending",
            now,
            now,
        ),
    )
    return int(cursor.lastrowid or 0)


def _take_to_fate(db: sqlite3.Connection, row: Row, now: float) -> None:
    row_id = _insert(db, row, now)
    if row.fate == "pending":
        return
    db.execute(CLAIM, (now, row_id))
    if row.fate == "uncertain":
        error = "Gameball did not answer within 10s"
        db.execute(RETRY_LATER, (1, now + 2.0, error, None, now, row_id))
    elif row.fate == "delivered":
        result = b'{"rewardedPoints":10.0,"redeemedPoints":0.0}' if row.kind == "payment" else None
        db.execute(DELIVERED, ("ok", result, None, None, now, now, row_id))


def _insert_hold(db: sqlite3.Connection, hold: Hold, now: float) -> None:
    answer = {
        "holdReference": hold.reference,
        "customerId": hold.customer,
        "holdPoints": hold.points,
        "holdAmount": hold.amount,
        "state": hold.state,
        "stale": False,
        "expiresAt": iso_ms(hold.expires_at),
        "checkoutId": hold.checkout_id,
    }
    db.execute(
        HOLD_INSERT,
        (
            hold.reference,
            hold.checkout_id,
            hold.checkout_id.encode(),
            hold.customer,
            hold.points,
            hold.amount,
            hold.state,
            hold.expires_at,
            msgspec.json.encode(answer),
            now,
            now,
        ),
    )


def decode(body: bytes) -> dict[str, Any]:
    document = msgspec.json.decode(body)
    assert isinstance(document, dict)
    return document


def schema_version(data_dir: Path) -> int:
    """The database's ``user_version``, as the next opener will see it (a WAL the last writer
    left uncommitted is rolled back by this read, as by the sidecar's own open)."""
    with closing(sqlite3.connect(data_dir / DB_NAME)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    return int(version)

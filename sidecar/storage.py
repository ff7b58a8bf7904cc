"""The SQLite database: connection, PRAGMAs, numbered migrations, and every SQL statement the
sidecar runs. Nothing else in the package writes SQL."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")

DB_NAME = "sidecar.db"

# Append only: a shipped migration is never edited, the next change is a new entry.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE holds (
        hold_reference TEXT PRIMARY KEY,
        checkout_id TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL,
        customer_id TEXT NOT NULL,
        hold_points REAL NOT NULL,
        hold_amount REAL NOT NULL,
        state TEXT NOT NULL,
        expires_at REAL,
        answer BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'release')),
        idem_key TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL,
        customer_id TEXT NOT NULL,
        body BLOB NOT NULL,
        amount REAL NOT NULL DEFAULT 0,
        tx_ms INTEGER,
        after_key TEXT,
        hold_reference TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'inflight', 'delivered', 'dead', 'discarded')),
        outcome TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        last_code INTEGER,
        result BLOB,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        delivered_at REAL,
        discard_reason TEXT
    );
    CREATE INDEX outbox_by_customer ON outbox (customer_id, state, id);
    CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at, id);
    CREATE INDEX outbox_by_tx_time ON outbox (customer_id, tx_ms);
    """,
    # Running totals of what is waiting, kept by triggers so the offline limits need not scan
    # the whole queue on every sale (and stay right whoever writes: service or CLI).
    """
    CREATE INDEX outbox_by_state_id ON outbox (state, id);
    CREATE TABLE outbox_totals (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        open_count INTEGER NOT NULL,
        open_amount REAL NOT NULL
    );
    INSERT INTO outbox_totals (id, open_count, open_amount)
        SELECT 1, COUNT(*), COALESCE(SUM(amount), 0) FROM outbox
        WHERE state IN ('pending', 'inflight');
    CREATE TRIGGER outbox_totals_insert AFTER INSERT ON outbox
    WHEN NEW.state IN ('pending', 'inflight') BEGIN
        UPDATE outbox_totals
        SET open_count = open_count + 1, open_amount = open_amount + NEW.amount;
    END;
    CREATE TRIGGER outbox_totals_update AFTER UPDATE OF state ON outbox
    WHEN (OLD.state IN ('pending', 'inflight')) != (NEW.state IN ('pending', 'inflight')) BEGIN
        UPDATE outbox_totals SET
            open_count = open_count
                + CASE WHEN NEW.state IN ('pending', 'inflight') THEN 1 ELSE -1 END,
            open_amount = open_amount
                + CASE WHEN NEW.state IN ('pending', 'inflight') THEN NEW.amount
                  ELSE -NEW.amount END;
    END;
    CREATE TRIGGER outbox_totals_delete AFTER DELETE ON outbox
    WHEN OLD.state IN ('pending', 'inflight') BEGIN
        UPDATE outbox_totals
        SET open_count = open_count - 1, open_amount = open_amount - OLD.amount;
    END;
    """,
    # uncertain: an earlier send of this row may have reached Gameball (timeout, reset, crash
    # in flight), so "already exists" (9004/9001) means it landed; on a row never sent with
    # an unknown outcome it means the id is taken by another call.
    # blocking: 0 for a refund waiting for its payment, which must not hold up the customer's
    # later calls. note: why a delivered row redeemed nothing (redemption_failed), for finance.
    # claimed_by: the sale that names a hold, so no second sale can burn it.
    """
    ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN blocking INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE outbox ADD COLUMN note TEXT;
    UPDATE outbox SET uncertain = 1 WHERE attempts > 0 OR state = 'inflight';
    UPDATE outbox SET blocking = 0
        WHERE kind = 'refund' AND state IN ('pending', 'inflight')
          AND (last_code = 9005 OR after_key IN (SELECT idem_key FROM outbox
                                                 WHERE state IN ('pending', 'inflight')));
    CREATE INDEX outbox_by_after_key ON outbox (after_key) WHERE after_key IS NOT NULL;
    ALTER TABLE holds ADD COLUMN claimed_by TEXT;
    ALTER TABLE holds ADD COLUMN redeem_id TEXT;
    ALTER TABLE holds ADD COLUMN redeem_uncertain INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE holds ADD COLUMN error BLOB;
    UPDATE holds SET claimed_by = (
        SELECT o.idem_key FROM outbox AS o
        WHERE o.kind = 'payment' AND o.hold_reference = holds.hold_reference
          AND o.state NOT IN ('dead', 'discarded')
        ORDER BY o.id LIMIT 1);
    """,
)

KV_PUT = (
    "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
KV_GET = "SELECT value, updated_at FROM kv WHERE key = ?"
HOLD_INSERT = (
    "INSERT INTO holds (hold_reference, checkout_id, fingerprint, customer_id, hold_points, "
    "hold_amount, state, expires_at, answer, created_at, updated_at, redeem_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
HOLD_COLUMNS = (
    "hold_reference, checkout_id, fingerprint, customer_id, hold_points, hold_amount, state, "
    "expires_at, answer, created_at, updated_at, claimed_by, redeem_id, redeem_uncertain, error"
)
HOLD_BY_CHECKOUT = f"SELECT {HOLD_COLUMNS} FROM holds WHERE checkout_id = ?"
HOLD_BY_REFERENCE = f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_reference = ?"
HOLD_UPDATE_STATE = (
    "UPDATE holds SET state = ?, expires_at = COALESCE(?, expires_at), updated_at = ? "
    "WHERE hold_reference = ?"
)
# What Gameball reports never undoes what this terminal knows for sure: a hold released or
# burned here stays so, and a redemption in doubt is settled only by its own check.
HOLD_REFRESH_STATE = (
    "UPDATE holds SET state = ?, expires_at = COALESCE(?, expires_at), updated_at = ? "
    "WHERE hold_reference = ? AND state NOT IN ('used', 'released', 'redeeming', 'failed')"
)
HOLD_SETTLE = (
    "UPDATE holds SET state = ?, answer = ?, error = ?, updated_at = ? WHERE hold_reference = ?"
)
HOLD_REDEEM_UNCERTAIN = (
    "UPDATE holds SET redeem_uncertain = 1, updated_at = ? WHERE hold_reference = ?"
)
HOLD_DELETE = "DELETE FROM holds WHERE hold_reference = ?"
HOLDS_REDEEMING = f"SELECT {HOLD_COLUMNS} FROM holds WHERE state = 'redeeming'"


class HoldRow:
    __slots__ = (
        "answer",
        "checkout_id",
        "claimed_by",
        "created_at",
        "customer_id",
        "error",
        "expires_at",
        "fingerprint",
        "hold_amount",
        "hold_points",
        "hold_reference",
        "redeem_id",
        "redeem_uncertain",
        "state",
        "updated_at",
    )

    def __init__(self, row: Sequence[Any]) -> None:
        (
            self.hold_reference,
            self.checkout_id,
            self.fingerprint,
            self.customer_id,
            self.hold_points,
            self.hold_amount,
            self.state,
            self.expires_at,
            self.answer,
            self.created_at,
            self.updated_at,
            self.claimed_by,
            self.redeem_id,
            self.redeem_uncertain,
            self.error,
        ) = row


class StorageError(Exception):
    """The database refused a write (disk full, read-only, locked, I/O error); nothing stored."""


class Storage:
    """One aiosqlite connection in WAL mode with ``synchronous=FULL``: a commit that returned is
    on disk, which is what lets the sidecar acknowledge a sale.

    Every statement goes through one asyncio lock: the connection is shared by many coroutines,
    and without the lock one coroutine's statement could land inside another's transaction."""

    def __init__(
        self, db: aiosqlite.Connection, path: Path, *, recovered_from: Path | None
    ) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self.path = path
        self.recovered_from = recovered_from

    @classmethod
    async def open(cls, data_dir: Path, *, max_bytes: int = 2**40, check: bool = True) -> Storage:
        """Open (creating if need be) and migrate. ``check`` runs the integrity check and sets a
        damaged file aside: only the service does that, never a CLI beside a running service."""
        try:
            return await cls._open(data_dir, max_bytes=max_bytes, check=check)
        except OSError as exc:
            raise StorageError(
                f"the database at {data_dir} cannot be opened for writing ({exc.strerror or exc})"
            ) from exc
        except sqlite3.Error as exc:
            raise StorageError(
                f"the database at {data_dir} cannot be used: {describe(exc)}"
            ) from exc

    @classmethod
    async def _open(cls, data_dir: Path, *, max_bytes: int, check: bool) -> Storage:
        path = await asyncio.to_thread(_prepare_files, data_dir)
        recovered_from = None
        if check:
            recovered_from = await asyncio.to_thread(_set_aside_if_corrupt, path)
        if recovered_from is not None:
            await asyncio.to_thread(_prepare_files, data_dir)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=2000")
            # Keep the WAL file from growing without bound between checkpoints.
            await db.execute("PRAGMA journal_size_limit=16777216")
            await _migrate(db)
            async with db.execute("PRAGMA page_size") as cursor:
                page_size = (await cursor.fetchone() or (4096,))[0]
            await db.execute(f"PRAGMA max_page_count={max(16, max_bytes // page_size)}")
        except BaseException:
            await db.close()
            raise
        return cls(db, path, recovered_from=recovered_from)

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement (its own transaction); returns the number of rows changed."""
        async with self._lock:
            try:
                cursor = await self._db.execute(sql, params)
            except sqlite3.Error as exc:
                raise StorageError(describe(exc, self.path)) from exc
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._lock:
            try:
                async with self._db.execute(sql, params) as cursor:
                    return await cursor.fetchone()
            except sqlite3.Error as exc:
                raise StorageError(describe(exc, self.path)) from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            try:
                async with self._db.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.Error as exc:
                raise StorageError(describe(exc, self.path)) from exc

    async def run_in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` (plain sqlite3 calls) inside BEGIN IMMEDIATE .. COMMIT on aiosqlite's own
        database thread: one hand-over instead of one per statement, which is what bounds how
        many sales per second can be stored (the bench shows the hand-overs, not the fsync)."""

        def in_thread(connection: sqlite3.Connection) -> T:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return result

        async with self._lock:
            try:
                # aiosqlite runs queued callables on the thread that owns the connection.
                return await self._db._execute(in_thread, self._db._conn)  # type: ignore[no-untyped-call,no-any-return]
            except sqlite3.Error as exc:
                raise StorageError(describe(exc, self.path)) from exc

    async def checkpoint(self) -> None:
        await self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def put_value(self, key: str, value: bytes, now: float) -> None:
        await self.execute(KV_PUT, (key, value, now))

    async def get_value(self, key: str) -> tuple[bytes, float] | None:
        row = await self.fetchone(KV_GET, (key,))
        return (bytes(row[0]), float(row[1])) if row else None

    async def insert_hold(
        self,
        *,
        hold_reference: str,
        checkout_id: str,
        fingerprint: bytes,
        customer_id: str,
        hold_points: float,
        hold_amount: float,
        state: str,
        expires_at: float | None,
        answer: bytes,
        now: float,
        redeem_id: str | None = None,
    ) -> None:
        await self.execute(
            HOLD_INSERT,
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
            ),
        )

    async def hold_by_checkout(self, checkout_id: str) -> HoldRow | None:
        row = await self.fetchone(HOLD_BY_CHECKOUT, (checkout_id,))
        return HoldRow(row) if row else None

    async def hold_by_reference(self, hold_reference: str) -> HoldRow | None:
        row = await self.fetchone(HOLD_BY_REFERENCE, (hold_reference,))
        return HoldRow(row) if row else None

    async def update_hold_state(
        self, hold_reference: str, state: str, expires_at: float | None, now: float
    ) -> None:
        await self.execute(HOLD_UPDATE_STATE, (state, expires_at, now, hold_reference))

    async def refresh_hold_state(
        self, hold_reference: str, state: str, expires_at: float | None, now: float
    ) -> None:
        """Gameball's view of a hold, unless this terminal already knows better."""
        await self.execute(HOLD_REFRESH_STATE, (state, expires_at, now, hold_reference))

    async def settle_hold(
        self, hold_reference: str, *, state: str, answer: bytes, error: bytes | None, now: float
    ) -> None:
        await self.execute(HOLD_SETTLE, (state, answer, error, now, hold_reference))

    async def mark_redeem_uncertain(self, hold_reference: str, now: float) -> None:
        await self.execute(HOLD_REDEEM_UNCERTAIN, (now, hold_reference))

    async def delete_hold(self, hold_reference: str) -> None:
        await self.execute(HOLD_DELETE, (hold_reference,))

    async def holds_redeeming(self) -> list[HoldRow]:
        return [HoldRow(row) for row in await self.fetchall(HOLDS_REDEEMING)]


def describe(exc: sqlite3.Error, path: Path | None = None) -> str:
    text = str(exc)
    if "full" in text:
        if path is not None and shutil.disk_usage(path.parent).free > 64 * 1024 * 1024:
            # The disk has room: it is the configured cap that was reached.
            return "the database reached its size limit (sidecar.max_db_mb)"
        return "the disk is full"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    if "locked" in text or "busy" in text:
        return "the database stayed locked by another process"
    return f"the database failed ({text})"


def _set_aside_if_corrupt(path: Path) -> Path | None:
    """``PRAGMA quick_check``; a damaged file (and its WAL) is renamed, never deleted, so that
    whatever it still holds can be recovered by hand."""
    try:
        with closing(sqlite3.connect(path)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()
        if verdict and verdict[0] == "ok":
            return None
        reason = str(verdict[0]) if verdict else "no answer"
    except sqlite3.DatabaseError as exc:
        reason = str(exc)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            part.rename(Path(str(aside) + suffix))
    log.error("database failed its integrity check (%s); moved aside to %s", reason, aside)
    return aside


def _prepare_files(data_dir: Path) -> Path:
    """The database holds customers' ids and sales: only the service user may read it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    path = data_dir / DB_NAME
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    return path


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this sidecar knows "
            f"({len(MIGRATIONS)}); upgrade the sidecar or restore a matching database"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first, so wrap each step in its own explicit transaction.
        await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        log.info("database migrated to schema version %d", number)

"""The SQLite database: connection, PRAGMAs, numbered migrations, and every SQL statement the
sidecar runs. Nothing else in the package writes SQL."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

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
)

KV_PUT = (
    "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
KV_GET = "SELECT value, updated_at FROM kv WHERE key = ?"
HOLD_INSERT = (
    "INSERT INTO holds (hold_reference, checkout_id, fingerprint, customer_id, hold_points, "
    "hold_amount, state, expires_at, answer, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
HOLD_COLUMNS = (
    "hold_reference, checkout_id, fingerprint, customer_id, hold_points, hold_amount, state, "
    "expires_at, answer, created_at, updated_at"
)
HOLD_BY_CHECKOUT = f"SELECT {HOLD_COLUMNS} FROM holds WHERE checkout_id = ?"
HOLD_BY_REFERENCE = f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_reference = ?"
HOLD_UPDATE_STATE = (
    "UPDATE holds SET state = ?, expires_at = COALESCE(?, expires_at), updated_at = ? "
    "WHERE hold_reference = ?"
)
HOLD_DELETE = "DELETE FROM holds WHERE hold_reference = ?"


class HoldRow:
    __slots__ = (
        "answer",
        "checkout_id",
        "created_at",
        "customer_id",
        "expires_at",
        "fingerprint",
        "hold_amount",
        "hold_points",
        "hold_reference",
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
        ) = row


class Storage:
    """One aiosqlite connection in WAL mode with ``synchronous=FULL``: a commit that returned is
    on disk, which is what lets the sidecar acknowledge a sale."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, data_dir: Path) -> Storage:
        path = await asyncio.to_thread(_prepare_files, data_dir)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=2000")
            await db.execute("PRAGMA foreign_keys=ON")
            await _migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    async def put_value(self, key: str, value: bytes, now: float) -> None:
        await self._db.execute(KV_PUT, (key, value, now))

    async def get_value(self, key: str) -> tuple[bytes, float] | None:
        async with self._db.execute(KV_GET, (key,)) as cursor:
            row = await cursor.fetchone()
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
    ) -> None:
        await self._db.execute(
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
            ),
        )

    async def hold_by_checkout(self, checkout_id: str) -> HoldRow | None:
        return await self._one_hold(HOLD_BY_CHECKOUT, checkout_id)

    async def hold_by_reference(self, hold_reference: str) -> HoldRow | None:
        return await self._one_hold(HOLD_BY_REFERENCE, hold_reference)

    async def update_hold_state(
        self, hold_reference: str, state: str, expires_at: float | None, now: float
    ) -> None:
        await self._db.execute(HOLD_UPDATE_STATE, (state, expires_at, now, hold_reference))

    async def delete_hold(self, hold_reference: str) -> None:
        await self._db.execute(HOLD_DELETE, (hold_reference,))

    async def _one_hold(self, sql: str, key: str) -> HoldRow | None:
        async with self._db.execute(sql, (key,)) as cursor:
            row = await cursor.fetchone()
        return HoldRow(row) if row else None


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

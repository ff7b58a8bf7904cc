"""The SQLite database: one aiosqlite connection in WAL mode with ``synchronous=FULL`` (a
commit that returned is on disk, which is what lets the sidecar acknowledge a sale), the
integrity check at start, migrations, and the key/value table."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from ..errors import StorageError
from . import queries
from .migrations import MIGRATIONS

log = logging.getLogger(__name__)

DB_NAME = "sidecar.db"
Params = Sequence[Any] | Mapping[str, Any]


# aiosqlite answers ValueError once its connection is closed (a call still running at stop).
FAILURES = (sqlite3.Error, ValueError)


class Changed(msgspec.Struct, frozen=True, kw_only=True):
    rows: int  # how many rows the statement changed
    last_id: int  # the id of the row an INSERT made


class Statements:
    """Statements run one after another on the connection, nothing of anyone else's between
    them (``Database.serialized``)."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    async def execute(self, sql: str, params: Params = ()) -> Changed:
        """One write statement; its cursor is closed before the answer, so no statement is
        left in progress (SQLite would refuse to commit the next transaction)."""
        try:
            cursor = await self._db.execute(sql, params)
            changed = Changed(rows=cursor.rowcount, last_id=cursor.lastrowid or 0)
            await cursor.close()
        except FAILURES as exc:
            raise StorageError(describe(exc, self._path)) from exc
        return changed

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        try:
            rows = await self._db.execute_fetchall(sql, params)
        except FAILURES as exc:
            raise StorageError(describe(exc, self._path)) from exc
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        try:
            return list(await self._db.execute_fetchall(sql, params))
        except FAILURES as exc:
            raise StorageError(describe(exc, self._path)) from exc


class Database:
    """Every statement goes through one asyncio lock: the connection is shared by many
    coroutines, and without the lock one coroutine's statement could land between another's.
    Each statement is its own transaction; what must happen together is one statement (and
    the triggers the schema keeps)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        recovered_from: Path | None,
        limit_bytes: int,
    ) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self.path = path
        self.recovered_from = recovered_from
        # The size the file may grow to (sidecar.max_db_mb), rounded to whole pages.
        self.limit_bytes = limit_bytes

    @classmethod
    async def open(cls, data_dir: Path, *, max_bytes: int = 2**40, check: bool = True) -> Database:
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
    async def _open(cls, data_dir: Path, *, max_bytes: int, check: bool) -> Database:
        path = await asyncio.to_thread(_prepare_files, data_dir)
        recovered_from = None
        if check:
            recovered_from = await asyncio.to_thread(_set_aside_if_corrupt, path)
        if recovered_from is not None:
            await asyncio.to_thread(_prepare_files, data_dir)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            for pragma in queries.SETUP:
                await db.execute_fetchall(pragma)  # read to the end: nothing left in progress
            await _migrate(db)
            page_size = (await db.execute_fetchall(queries.PAGE_SIZE))[0][0]  # type: ignore[index]
            pages = max(16, max_bytes // int(page_size))
            await db.execute_fetchall(f"PRAGMA max_page_count={pages:d}")  # takes no parameter
        except BaseException:
            await db.close()
            raise
        return cls(db, path, recovered_from=recovered_from, limit_bytes=pages * int(page_size))

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    @asynccontextmanager
    async def serialized(self) -> AsyncIterator[Statements]:
        """Run a few statements with no other coroutine's statement between them."""
        async with self._lock:
            yield Statements(self._db, self.path)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement (its own transaction); returns the number of rows changed."""
        async with self.serialized() as statements:
            return (await statements.execute(sql, params)).rows

    async def insert(self, sql: str, params: Params = ()) -> int:
        """One INSERT; returns the new row's id."""
        async with self.serialized() as statements:
            return (await statements.execute(sql, params)).last_id

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        async with self.serialized() as statements:
            return await statements.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        async with self.serialized() as statements:
            return await statements.fetchall(sql, params)

    async def checkpoint(self) -> None:
        await self.execute(queries.CHECKPOINT)

    async def size_bytes(self) -> int:
        """The pages in use, which is what ``max_page_count`` caps (free pages left by pruning
        are reused before the file grows)."""
        async with self.serialized() as statements:
            (pages,) = await statements.fetchone(queries.PAGE_COUNT)
            (free,) = await statements.fetchone(queries.FREE_PAGES)
            (page_size,) = await statements.fetchone(queries.PAGE_SIZE)
        return (int(pages) - int(free)) * int(page_size)

    async def put_value(self, key: str, value: bytes, now: float) -> None:
        await self.execute(queries.KV_PUT, (key, value, now))

    async def get_value(self, key: str) -> tuple[bytes, float] | None:
        row = await self.fetchone(queries.KV_GET, (key,))
        return (bytes(row[0]), float(row[1])) if row else None


def describe(exc: Exception, path: Path | None = None) -> str:
    if not isinstance(exc, sqlite3.Error):
        return "the database is closed (the sidecar is stopping)"
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
            verdict = db.execute(queries.QUICK_CHECK).fetchone()
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
    (version,) = (await db.execute_fetchall(queries.USER_VERSION))[0]  # type: ignore[index]
    if version > len(MIGRATIONS):
        raise StorageError(
            f"database schema version {version} is newer than this sidecar knows "
            f"({len(MIGRATIONS)}); upgrade the sidecar or restore a matching database"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first, so wrap each step in its own explicit transaction.
        await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number:d};\nCOMMIT;")
        log.info("database migrated to schema version %d", number)

"""SQLite measurements for the benchmark: the machine's limit for one durable commit per sale
(raw sqlite3, WAL + synchronous=FULL), and the cost of the sidecar's own outbox statements at a
given queue depth, timed on a copy of its database."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sidecar.store import queries


def average_row_bytes(db_path: Path) -> int:
    """What one queued sale puts in its outbox row: text and blob columns, 8 bytes a number."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT AVG(LENGTH(kind) + LENGTH(idem_key) + LENGTH(fingerprint) + "
            "LENGTH(customer_id) + LENGTH(body) + LENGTH(state) + 8 * 6) FROM outbox"
        ).fetchone()
    return int(row[0] or 0)


@dataclass(frozen=True)
class Commits:
    rate: float
    p50_ms: float
    p99_ms: float


def raw_commits(path: Path, row_bytes: int, seconds: float) -> Commits:
    """Single-row INSERTs, each its own transaction, on one connection, WAL + synchronous=FULL,
    on the same file system as the sidecar's database: one fsync'd commit per sale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(row_bytes)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS sale (id INTEGER PRIMARY KEY, row BLOB NOT NULL)")
        latencies = []
        started = time.perf_counter()
        while (now := time.perf_counter()) - started < seconds:
            db.execute("INSERT INTO sale (row) VALUES (?)", (payload,))
            latencies.append(time.perf_counter() - now)
        elapsed = time.perf_counter() - started
    finally:
        db.close()
    latencies.sort()
    return Commits(
        rate=len(latencies) / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
    )


@dataclass(frozen=True)
class StatementCost:
    name: str
    ms: float
    plan: str


def snapshot(db_path: Path, copy: Path) -> int:
    """Copy a live database (the backup API reads a consistent snapshot beside the writer);
    returns the number of open (pending or in flight) rows in it."""
    copy.unlink(missing_ok=True)
    with (
        sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as source,
        sqlite3.connect(copy) as target,
    ):
        source.backup(target)
        count = target.execute(queries.OPEN_TOTALS).fetchone()[0]
    return int(count)


def statement_costs(copy: Path, repeat: int = 20) -> list[StatementCost]:
    """Time the outbox statements that run once per sale or once per replay pass."""
    now = time.time() + 3600
    statements = {
        "OPEN_TOTALS (offline limits, every finalize)": (queries.OPEN_TOTALS, ()),
        "READY_HEADS (every replay pass)": (queries.READY_HEADS, (now, 36)),
        "NEXT_DUE (replay, when idle)": (queries.NEXT_DUE, ()),
        "COUNT_BY_STATE (/v1/status)": (queries.COUNT_BY_STATE, ()),
        "SELECT_BY_KEY (every finalize)": (queries.SELECT_BY_KEY, ("payment:none",)),
    }
    costs = []
    with sqlite3.connect(copy) as db:
        for name, (sql, params) in statements.items():
            db.execute(sql, params).fetchall()  # warm the page cache
            started = time.perf_counter()
            for _ in range(repeat):
                db.execute(sql, params).fetchall()
            ms = (time.perf_counter() - started) / repeat * 1000
            plan = "; ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            costs.append(StatementCost(name, ms, plan))
    return costs

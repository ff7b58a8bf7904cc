"""The database under stress: restarts, corruption, a locked or read-only file, retention."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.errors import StorageError
from sidecar.simulator import SimulatorServer
from sidecar.store.database import DB_NAME, Database
from sidecar.store.outbox import Outbox
from tests.support.fixtures import MakeSidecar
from tests.support.processes import STORE_ENV
from tests.support.rows import new_item


async def test_storage_inflight_rows_return_to_pending_at_start(tmp_path: Path) -> None:
    storage = await Database.open(tmp_path)
    outbox = Outbox(storage)
    stored = await outbox.enqueue(new_item("a"), now=1.0, claim=True)
    await storage.close()

    reopened = await Database.open(tmp_path)
    requeued = await Outbox(reopened).requeue_inflight(2.0)
    again = await Outbox(reopened).get(stored.item.id)
    await reopened.close()

    assert stored.claimed and stored.item.state == "inflight"
    assert requeued == 1 and again is not None and again.state == "pending"


async def test_storage_corrupt_file_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database at all" * 100)

    storage = await Database.open(tmp_path)
    fresh = await Outbox(storage).enqueue(new_item("b"), now=1.0, claim=False)
    await storage.close()

    assert storage.recovered_from is not None and storage.recovered_from.exists()
    assert storage.recovered_from.read_bytes().startswith(b"this is not a database")
    assert fresh.created is True


@pytest.fixture
def corrupt_data_dir(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True)
    (data_dir / DB_NAME).write_bytes(b"garbage" * 1000)
    return data_dir


async def test_storage_corruption_is_reported_on_status(
    make_sidecar: MakeSidecar, corrupt_data_dir: Path
) -> None:
    data_dir = corrupt_data_dir
    sidecar = await make_sidecar()
    status = await (await sidecar.get("/v1/status")).json()

    assert status["database"]["recoveredFrom"].startswith(str(data_dir / DB_NAME) + ".corrupt-")
    assert any("integrity check" in line for line in status["attention"])


async def test_storage_files_are_private(tmp_path: Path) -> None:
    storage = await Database.open(tmp_path / "d")
    await storage.close()

    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "d" / DB_NAME).stat().st_mode & 0o777 == 0o600


async def test_storage_prune_keeps_open_rows_and_checkpoint_truncates_wal(tmp_path: Path) -> None:
    storage = await Database.open(tmp_path)
    outbox = Outbox(storage)
    done = (await outbox.enqueue(new_item("old"), now=1.0, claim=True)).item
    await outbox.delivered(done, outcome="ok", result=None, now=10.0)
    waiting = (await outbox.enqueue(new_item("waiting"), now=2.0, claim=False)).item

    pruned = await outbox.prune(before=100.0)
    await storage.checkpoint()
    remaining = await outbox.listing()
    await storage.close()

    assert pruned == 1 and [i.id for i in remaining] == [waiting.id]
    wal = tmp_path / (DB_NAME + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_storage_locked_by_another_process_acknowledges_nothing(
    make_sidecar: MakeSidecar, data_dir: Path, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar()
    await simulator.set_down(True)
    blocker = sqlite3.connect(data_dir / DB_NAME, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        response = await sidecar.post(
            "/v1/finalize-payment",
            json={"customerId": "c-1", "paymentId": "locked-1", "totalPaid": 5},
        )
        body = await response.json()
    finally:
        blocker.rollback()
        blocker.close()
    listed = (await (await sidecar.get("/v1/outbox")).json())["items"]

    assert response.status == 503
    assert body["error"]["code"] == "STORAGE_UNAVAILABLE" and "locked" in body["error"]["message"]
    assert listed == []


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory holding a database, then made read-only under the sidecar's feet."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    (mount_point / "data").mkdir()
    sqlite3.connect(mount_point / "data" / DB_NAME).close()
    steps = [
        ["mount", "--bind", str(mount_point), str(mount_point)],
        ["mount", "-o", "remount,bind,ro", str(mount_point)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot make a read-only mount here ({done.stderr.decode().strip()})")
    yield mount_point / "data"
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_storage_read_only_database_refuses_to_start(read_only_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"],
        env={
            **os.environ,
            **STORE_ENV,
            "GAMEBALL_API_KEY": "k",
            "GAMEBALL_SECRET_KEY": "s",
            "SIDECAR_DATA_DIR": str(read_only_dir),
            "SIDECAR_PORT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Read-only file system" in result.stderr


async def test_storage_error_is_typed(tmp_path: Path) -> None:
    storage = await Database.open(tmp_path)
    try:
        with pytest.raises(StorageError):
            await storage.execute("INSERT INTO no_such_table VALUES (1)")
    finally:
        await storage.close()


async def test_storage_running_totals_match_a_full_count(tmp_path: Path) -> None:
    storage = await Database.open(tmp_path)
    outbox = Outbox(storage)
    items = []
    for n in range(8):
        stored = await outbox.enqueue(
            new_item(f"t{n}", customer=f"c{n % 3}"), now=float(n), claim=n == 0
        )
        item = stored.item
        items.append(item)
    await outbox.delivered(items[0], outcome="ok", result=None, now=10.0)
    await outbox.dead(items[1], error="x", code=3003, now=11.0)
    await outbox.discard(items[2], "voided", now=12.0)
    await outbox.manual_retry(items[1], now=13.0)
    await outbox.prune(before=100.0)

    totals = await outbox.totals()
    (count, amount) = await storage.fetchone(
        "SELECT COUNT(*), SUM(amount) FROM outbox WHERE state IN ('pending', 'inflight')"
    )
    await storage.close()

    assert (totals.open_count, totals.open_amount) == (count, amount) == (6, 6.0)
    assert totals.oldest_created_at == 1.0

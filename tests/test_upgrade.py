"""Upgrading with a full queue: the current release, started as a real process on the database
the previous release (0.1.0, schema version 3) left behind with 1,000 rows waiting (some in
flight at its last stop, some sent without an answer, a few of those applied at Gameball),
delivers every one exactly once and in order; also when SIGKILLed again and again in the middle
of migrating that database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sidecar.simulator import SimulatorServer
from sidecar.store.database import DB_NAME
from tests.support import legacy, upgrade
from tests.support.clients import GameballClient
from tests.support.installs import release_checkout
from tests.support.processes import SidecarProcess

# Real processes on a 1,000-row queue: run with -m slow, as scripts/chaos does.
pytestmark = pytest.mark.slow


def sidecar_on(simulator: SimulatorServer, tmp_path: Path) -> SidecarProcess:
    return SidecarProcess(
        base_url=simulator.base_url,
        data_dir=tmp_path / "data",
        log_path=tmp_path / "sidecar.log",
        SIDECAR_PACING_ENABLED="false",
        SIDECAR_OUTBOX_CONCURRENCY="8",
    )


async def outbox(session: aiohttp.ClientSession, sidecar: SidecarProcess) -> dict[int, Any]:
    """Every outbox row by id, through GET /v1/outbox pages."""
    rows: dict[int, Any] = {}
    after = 0
    while True:
        url = f"{sidecar.url}/v1/outbox?limit=500&afterId={after}"
        async with session.get(url) as response:
            page = (await response.json())["items"]
        if not page:
            return rows
        rows.update((int(item["id"]), item) for item in page)
        after = int(page[-1]["id"])


async def check_upgraded(
    session: aiohttp.ClientSession,
    sidecar: SidecarProcess,
    simulator: SimulatorServer,
    gameball: GameballClient,
    backlog: upgrade.Backlog,
) -> None:
    """What a store would check after the upgrade: the queue empty, nothing dead, each row
    delivered once, the landed ones recognised as landed, held points burned or given back."""
    await sidecar.wait_drained(session, within=180)
    figures = upgrade.check_delivered_once(simulator, backlog)
    rows = await outbox(session, sidecar)
    by_row = {row.idem_key: rows.get(upgrade.PRUNED + n + 1) for n, row in enumerate(backlog.rows)}
    states = {(item or {}).get("state") for item in by_row.values()}
    not_recognised = [
        key for key in backlog.landed if (by_row[key] or {}).get("outcome") != "already"
    ]
    released = [row.key for row in backlog.of_kind("release")]
    still_held = [
        ref
        for ref in released
        if (await gameball.get(f"/integrations/transactions/hold/{ref}"))[0] != 404
    ]
    report = await sidecar.status(session)
    new_sale = {"customerId": "up-new", "paymentId": "after-upgrade", "totalPaid": 5}
    async with session.post(f"{sidecar.url}/v1/finalize-payment", json=new_sale) as response:
        fresh = await response.json()
    print(f"\nupgrade: {figures} landed={len(backlog.landed)} releases={len(released)}")

    assert figures["open"] == upgrade.CUSTOMERS * upgrade.OPEN_EACH
    assert figures["lost"] == figures["duplicated"] == figures["out_of_order"] == 0, figures
    assert figures["unburned"] == 0 and figures["burns"] > 0, figures
    assert states == {"delivered"}, states
    assert not not_recognised, not_recognised
    assert not still_held, still_held
    assert report["outbox"]["deadLetters"] == 0, report["outbox"]
    assert fresh["outboxId"] > backlog.highest_id, fresh


async def test_upgrade_from_0_1_delivers_a_full_queue_once_and_in_order(
    simulator: SimulatorServer, simulator_client: GameballClient, tmp_path: Path
) -> None:
    backlog = await upgrade.prepare(simulator_client)
    legacy.write(
        tmp_path / "data", backlog.rows, backlog.holds, now=time.time(), pruned=upgrade.PRUNED
    )
    sidecar = sidecar_on(simulator, tmp_path)

    sidecar.start()
    async with aiohttp.ClientSession() as session:
        await sidecar.wait_ready(session)
        await check_upgraded(session, sidecar, simulator, simulator_client, backlog)
        assert sidecar.stop() == 0
    assert legacy.schema_version(tmp_path / "data") == 4


# Enough delivered history (within retention) that copying the outbox takes a second or two;
# the migration writes about twice the file's size to the WAL before it commits.
HISTORY_ROWS = 60_000
KILL_AT = (0.02, 0.45, 0.9)  # of that, for each SIGKILL: early in the copy, mid-way, near the end


def size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def kill_mid_migration(sidecar: SidecarProcess, wal: Path, at_bytes: int) -> bool:
    """Start the sidecar and SIGKILL it once the migration has written ``at_bytes`` to the
    WAL (nothing else writes before the migration commits); False if it finished first."""
    sidecar.start()
    assert sidecar.process is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sidecar.process.poll() is None:
        if await asyncio.to_thread(size_of, wal) >= at_bytes:
            sidecar.kill()
            return True
        await asyncio.sleep(0.005)
    sidecar.kill()
    return False


async def test_upgrade_killed_during_the_migration_still_migrates_and_delivers_once(
    simulator: SimulatorServer, simulator_client: GameballClient, tmp_path: Path
) -> None:
    backlog = await upgrade.prepare(simulator_client)
    data_dir = tmp_path / "data"
    legacy.write(data_dir, backlog.rows, backlog.holds, now=time.time(), pruned=upgrade.PRUNED)
    legacy.add_history(data_dir, HISTORY_ROWS, now=time.time())
    sidecar = sidecar_on(simulator, tmp_path)
    wal = data_dir / f"{DB_NAME}-wal"

    expected_wal = 2 * size_of(data_dir / DB_NAME)
    landed_mid_migration = []
    for share in KILL_AT:
        caught = await kill_mid_migration(sidecar, wal, at_bytes=int(share * expected_wal))
        landed_mid_migration.append(caught and legacy.schema_version(data_dir) == 3)
    sidecar.start()
    async with aiohttp.ClientSession() as session:
        await sidecar.wait_ready(session, within=60)
        await check_upgraded(session, sidecar, simulator, simulator_client, backlog)
        assert sidecar.stop() == 0

    print(f"upgrade: kills during the migration={landed_mid_migration}")
    assert all(landed_mid_migration), landed_mid_migration
    assert legacy.schema_version(data_dir) == 4
    assert not list(data_dir.glob(f"{DB_NAME}.corrupt-*")), "a killed migration was set aside"


# What a till may resend after the upgrade, exactly as it sent it to 0.1.0 (it never heard the
# answer: the service was restarted for the upgrade). Each is the same request, so it must get
# its stored outcome, never 409 IDEMPOTENCY_CONFLICT, whose message tells the cashier to "send a
# new id": a second sale at Gameball.
RESENDS = {
    "payment": (
        "/v1/finalize-payment",
        {"customerId": "rs-1", "paymentId": "rs-p1", "totalPaid": 9},
    ),
    "dated payment": (
        "/v1/finalize-payment",
        {
            "customerId": "rs-1",
            "paymentId": "rs-p2",
            "totalPaid": 9,
            "paymentDate": "2026-11-21T10:00:00.000Z",
        },
    ),
    "refund": (
        "/v1/refund",
        {"paymentId": "rs-p1", "refundId": "rs-r1", "customerId": "rs-1", "amount": 2},
    ),
}
# 0.1.0 digested the request as its own models encoded it (field order, null fields, the time
# as sent), so the digests differ from today's: a row of its is recognised by the body it
# would send. Changed resends stay conflicts.
CHANGED = {
    "dated payment, another date": (
        "/v1/finalize-payment",
        {**RESENDS["dated payment"][1], "paymentDate": "2026-11-21T11:00:00.000Z"},
    ),
    "refund, another amount": ("/v1/refund", {**RESENDS["refund"][1], "amount": 3}),
}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("payment", 202),
        ("dated payment", 202),
        ("refund", 202),
        ("dated payment, another date", 409),
        ("refund, another amount", 409),
    ],
)
async def test_upgrade_a_resend_of_a_sale_0_1_stored_gets_its_stored_outcome(
    simulator: SimulatorServer, tmp_path: Path, case: str, expected: int
) -> None:
    release = release_checkout(legacy.RELEASE_COMMIT, tmp_path / "release")
    old = SidecarProcess(
        base_url=simulator.base_url,
        data_dir=tmp_path / "data",
        log_path=tmp_path / "old.log",
    )
    old.cwd = release
    new = sidecar_on(simulator, tmp_path)
    await simulator.set_down(True)
    async with aiohttp.ClientSession() as session:
        old.start()
        await old.wait_ready(session)
        for path, body in RESENDS.values():
            async with session.post(old.url + path, json=body) as response:
                assert response.status == 202, await response.text()
        assert old.stop() == 0
        new.start()
        await new.wait_ready(session)
        path, body = {**RESENDS, **CHANGED}[case]

        async with session.post(new.url + path, json=body) as response:
            status, answer = response.status, await response.json()
        assert new.stop() == 0

    assert legacy.schema_version(tmp_path / "data") == 4
    if expected == 409:
        assert (status, answer["error"]["code"]) == (409, "IDEMPOTENCY_CONFLICT"), answer
    else:
        assert (status, answer.get("status")) == (202, "queued"), answer

"""Disk scenarios "read-only start" and "read-only while running": a database that cannot be
written, at start (the service must refuse to start) and under a running sidecar (no 2xx for
a sale that was not stored, nothing refused stored)."""

from __future__ import annotations

import random
import sqlite3
import subprocess
from collections import Counter
from contextlib import closing
from pathlib import Path

import aiohttp

from scripts.chaos_suites.common import call
from scripts.chaos_suites.disk.sales import Check, Sales, Simulators, check_outbox, new_sidecar
from scripts.chaos_suites.disk.shell import shell, unmount
from sidecar.store.database import DB_NAME


async def read_only_start(work: Path, simulators: Simulators) -> tuple[bool, dict[str, object]]:
    """A database on a read-only mount: the service must refuse to start, saying why."""
    mount_point = work / "ro"
    data_dir = mount_point / "data"
    mount_point.mkdir()
    simulator = simulators.new()
    await simulator.start()
    sidecar = new_sidecar(simulator, data_dir, work / "ro-first.log")
    mounted = False
    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            first = await call(
                session,
                "POST",
                f"{sidecar.url}/v1/finalize-payment",
                {"customerId": "ro-c", "paymentId": "ro-before", "totalPaid": 5},
            )
        sidecar.stop()
        for step in (
            ("mount", "--bind", str(mount_point), str(mount_point)),
            ("mount", "-o", "remount,bind,ro", str(mount_point)),
        ):
            rc, message = shell(*step)
            if rc != 0:
                return False, {"read_only_start": f"not tried ({message})"}
            mounted = True
        log = work / "ro-start.log"
        attempt = new_sidecar(simulator, data_dir, log)
        attempt.start()
        assert attempt.process is not None
        try:
            exit_code: int | None = attempt.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            exit_code = None
        said = log.read_text(errors="replace") if log.exists() else ""
        line = next((x for x in said.splitlines() if "cannot start" in x), said.strip()[-200:])
        acked = 0
        if exit_code is None:
            # It started on a read-only database: does it acknowledge what it cannot store?
            async with aiohttp.ClientSession() as session:
                await attempt.wait_ready(session)
                answer = await call(
                    session,
                    "POST",
                    f"{attempt.url}/v1/finalize-payment",
                    {"customerId": "ro-c", "paymentId": "ro-after", "totalPaid": 5},
                )
                acked = int(answer.ok)
            attempt.kill()
        refused = (
            exit_code == 1
            and "cannot start" in said
            and str(data_dir) in said
            and "read-only" in said.lower()
        )
        return refused and first.ok and not acked, {
            "read_only_start": "refused" if refused else f"NOT refused (exit {exit_code})",
            "exit_code": exit_code,
            "message": line.strip()[:160],
            "acked_while_read_only": acked,
        }
    finally:
        sidecar.kill()
        await simulator.stop()
        if mounted:
            unmount(mount_point)


async def read_only_while_running(
    work: Path, simulators: Simulators
) -> tuple[bool, dict[str, object]]:
    """The disk turns unwritable under a running sidecar, three ways (what root can do):
    a bind read-only remount, chmod 0444, and chattr +i. Report what each really does."""
    mount_point = work / "live"
    data_dir = mount_point / "data"
    mount_point.mkdir()
    rc, message = shell("mount", "--bind", str(mount_point), str(mount_point))
    if rc != 0:
        return False, {"live": f"not tried ({message})"}
    simulator = simulators.new()
    await simulator.start()
    sidecar = new_sidecar(simulator, data_dir, work / "live.log")
    sales = Sales("live", random.Random(8))
    report: dict[str, object] = {}
    checks: list[Check] = []
    db_files = [data_dir / DB_NAME, data_dir / (DB_NAME + "-wal")]

    async def burst(session: aiohttp.ClientSession, label: str, count: int = 3) -> None:
        answers = [await sales.send(session, sidecar.url, 2_000) for _ in range(count)]
        seen = Counter(f"{a.status}" + (f" {a.code}" if a.code else "") for a in answers)
        report[label] = "+".join(f"{n}x{k}" for k, n in seen.items())
        checks.append(await check_outbox(session, sidecar.url, sales))

    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            await simulator.set_down(True)  # every sale is written, none goes out at once
            await burst(session, "before")

            rc, message = shell("mount", "-o", "remount,bind,ro", str(mount_point))
            reason = message.splitlines()[0].rsplit(": ", 1)[-1] if message else "?"
            report["bind_ro_remount"] = "applied" if rc == 0 else f"refused ({reason})"
            await burst(session, "after_bind_ro")
            if rc == 0:
                shell("mount", "-o", "remount,bind,rw", str(mount_point))

            for path in db_files:
                path.chmod(0o444)
            await burst(session, "after_chmod_0444")
            for path in db_files:
                path.chmod(0o600)

            rc, message = shell("chattr", "+i", *map(str, db_files))
            report["chattr_i"] = "applied" if rc == 0 else f"unsupported ({message[:40]})"
            try:
                await burst(session, "after_chattr_i")
            finally:
                shell("chattr", "-i", *map(str, db_files))
            await burst(session, "after_chattr_minus_i")
        sidecar.kill()
        on_disk = _stored_on_disk(data_dir / DB_NAME, "live-")
        report["refusal"] = sales.refusal_message[:80]
    finally:
        sidecar.kill()
        await simulator.stop()
        shell("chattr", "-i", *map(str, db_files))
        unmount(mount_point)
    false_acks = set().union(*(c.false_acks for c in checks)) | (sales.acknowledged - on_disk)
    refused_stored = set().union(*(c.refused_stored for c in checks)) | (sales.refused & on_disk)
    report |= {
        "acknowledged": len(sales.acknowledged),
        "refused_503": len(sales.refused),
        "false_acks": len(false_acks),
        "refused_stored": len(refused_stored),
        "other_answers": dict(sales.other) or 0,
    }
    return not false_acks and not refused_stored and not sales.other, report


def _stored_on_disk(path: Path, prefix: str) -> set[str]:
    """After a SIGKILL: the payments the file itself holds (WAL recovered by a fresh open)."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT idem_key FROM outbox WHERE kind = 'payment' AND idem_key LIKE ?",
            (f"payment:{prefix}%",),
        ).fetchall()
    return {str(r[0]).removeprefix("payment:") for r in rows}

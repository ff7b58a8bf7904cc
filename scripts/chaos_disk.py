"""Suite 6, disk: the database's disk fills up (a small tmpfs, and the max_db_mb quota), is
read-only at start, and is made unwritable under a running sidecar. Whatever the disk does, no
2xx is given for a payment that is not in the outbox, nothing refused is stored, and once space
is back the service takes sales again without a restart and delivers each one exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from chaos_common import (
    Answer,
    call,
    exactly_once,
    figures,
    ledger_counts,
    log_problems,
    outbox_items,
    shell,
    spec_violations,
    unmount,
    wait_until,
)

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.store.database import DB_NAME
from tests.support.processes import SidecarProcess

MIB = 1024 * 1024
# Generous offline limits: this suite is about the disk, not OFFLINE_QUEUE_FULL.
ROOMY_LIMITS = {
    "SIDECAR_LIMITS_MAX_QUEUED_COUNT": "1000000",
    "SIDECAR_LIMITS_MAX_QUEUED_AMOUNT": "1e9",
    "SIDECAR_PACING_ENABLED": "false",
}


@dataclass
class Sales:
    """Every finalize sent in one scenario and how it was answered."""

    prefix: str
    rng: random.Random
    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    other: Counter[str] = field(default_factory=Counter)
    refusal_message: str = ""

    async def send(self, session: aiohttp.ClientSession, url: str, extra_bytes: int = 0) -> Answer:
        payment_id = f"{self.prefix}-{self.sent:05d}"
        body: dict[str, Any] = {
            "customerId": f"{self.prefix}-c{self.sent % 10}",
            "paymentId": payment_id,
            "totalPaid": 10,
        }
        if extra_bytes:
            # Random hex: nothing on the way can shrink it.
            body["extra"] = {"receipt": self.rng.randbytes(extra_bytes // 2).hex()}
        self.sent += 1
        answer = await call(session, "POST", f"{url}/v1/finalize-payment", body)
        if answer.ok:
            self.acknowledged.add(payment_id)
        elif answer.status == 503 and answer.code == "STORAGE_UNAVAILABLE":
            self.refused.add(payment_id)
            self.refusal_message = self.refusal_message or str(answer.body["error"]["message"])
        else:
            self.other[f"{answer.status} {answer.code}"] += 1
        return answer

    def big(self) -> int:
        return self.rng.randint(20_000, 50_000)


@dataclass
class Check:
    """acknowledged but not stored (false acks), and refused but stored after all."""

    false_acks: set[str]
    refused_stored: set[str]
    stored: int

    @property
    def ok(self) -> bool:
        return not self.false_acks and not self.refused_stored


async def check_outbox(session: aiohttp.ClientSession, url: str, sales: Sales) -> Check:
    stored = {
        str(item["paymentId"])
        for item in await outbox_items(session, url)
        if item["kind"] == "payment" and str(item["paymentId"]).startswith(sales.prefix + "-")
    }
    return Check(sales.acknowledged - stored, sales.refused & stored, len(stored))


class Simulators:
    """Every simulator the scenarios start, so what each was sent can be checked afterwards."""

    def __init__(self) -> None:
        self.started: list[SimulatorServer] = []

    def new(self) -> SimulatorServer:
        simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
        self.started.append(simulator)
        return simulator


def new_sidecar(
    simulator: SimulatorServer, data_dir: Path, log: Path, **env: str
) -> SidecarProcess:
    return SidecarProcess(
        base_url=simulator.base_url, data_dir=data_dir, log_path=log, **ROOMY_LIMITS, **env
    )


async def fill_until_refused(
    session: aiohttp.ClientSession, url: str, sales: Sales, *, after: int, cap: int
) -> int | None:
    """Big sales until the first STORAGE_UNAVAILABLE, then ``after`` more (every third one
    small, to see whether a small sale still fits). Returns the index of the first refusal."""
    first: int | None = None
    while sales.sent < cap:
        if first is not None and sales.sent - first >= after:
            break
        small = first is not None and sales.sent % 3 == 0
        answer = await sales.send(session, url, 0 if small else sales.big())
        if first is None and answer.code == "STORAGE_UNAVAILABLE":
            first = sales.sent - 1
    return first


async def drained(session: aiohttp.ClientSession, sidecar: SidecarProcess, within: float) -> bool:
    async def empty() -> bool:
        return int((await sidecar.status(session))["outbox"]["queued"]) == 0

    return await wait_until(empty, within=within, interval=0.5)


async def open_rows(session: aiohttp.ClientSession, url: str) -> str:
    """The rows still waiting, by state, e.g. "inflight=1 pending=3"."""
    states = Counter(
        str(item["state"])
        for item in await outbox_items(session, url)
        if item["state"] in ("pending", "inflight")
    )
    return " ".join(f"{k}={v}" for k, v in sorted(states.items())) or "none"


async def full_filesystem(
    work: Path, quick: bool, simulators: Simulators
) -> tuple[bool, dict[str, object]]:
    """A tmpfs that fills up while Gameball is down; a power cut on the full disk; a filler file
    deleted (new sales must be taken again, no restart); Gameball back on that freed space; then
    the tmpfs made bigger: the queue must drain, still without a restart."""
    size_mb, filler_mb = (4, 1) if quick else (8, 2)
    after, recovery_calls = (15, 5) if quick else (40, 10)
    mount_point = work / "tmpfs"
    mount_point.mkdir()
    rc, message = shell("mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount_point))
    if rc != 0:
        return False, {"tmpfs": f"cannot mount ({message})"}
    simulator = simulators.new()
    await simulator.start()
    sidecar = new_sidecar(simulator, mount_point / "data", work / "full.log")
    sales = Sales("full", random.Random(6))
    checks: list[Check] = []
    result: dict[str, object] = {"tmpfs_mb": size_mb, "filler_mb": filler_mb}
    try:
        # Placed first, so deleting it later frees room on a disk that is otherwise full.
        (mount_point / "filler").write_bytes(os.urandom(filler_mb * MIB))
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            await simulator.set_down(True)
            cap = 2 * size_mb * MIB // 20_000 + after
            first = await fill_until_refused(session, sidecar.url, sales, after=after, cap=cap)
            checks.append(await check_outbox(session, sidecar.url, sales))
            result |= {
                "first_503_at_call": first if first is not None else "never",
                "acked_after_first_503": sum(
                    1 for p in sales.acknowledged if first is not None and int(p[-5:]) > first
                ),
                "free_kb_when_full": shutil.disk_usage(mount_point).free // 1024,
            }

            # A power cut on the full disk: it must start again, and have every ack on disk.
            sidecar.kill()
            sidecar.start()
            await sidecar.wait_ready(session)
            checks.append(await check_outbox(session, sidecar.url, sales))
            still_full = await sales.send(session, sidecar.url, sales.big())
            result["after_restart_on_full_disk"] = f"{still_full.status} {still_full.code}"

            (mount_point / "filler").unlink()
            answers = [
                await sales.send(session, sidecar.url, sales.rng.randint(20_000, 30_000))
                for _ in range(recovery_calls)
            ]
            recovered = sum(1 for a in answers if a.status == 202)
            result["recovered"] = "yes" if recovered == recovery_calls else "no"
            result["recovery_202"] = f"{recovered}/{recovery_calls}"
            checks.append(await check_outbox(session, sidecar.url, sales))

            # Gameball returns while the disk only has the filler's room.
            await simulator.set_down(False)
            window = 15 if quick else 30
            on_filler = await drained(session, sidecar, window)
            status = await sidecar.status(session)
            result["drain_on_freed_filler"] = (
                "complete"
                if on_filler
                else f"stalled {status['outbox']['delivered']}/{len(sales.acknowledged)} "
                f"in {window}s ({'; '.join(status['attention'])[:70]})"
            )

            # Store IT gives the disk room: replay must finish by itself.
            rc, message = shell("mount", "-o", f"remount,size={size_mb * 4}m", str(mount_point))
            result["remount_bigger"] = "ok" if rc == 0 else message[:60]
            without_restart = on_filler or await drained(session, sidecar, 60)
            result["drained_without_restart"] = "yes" if without_restart else "NO"
            if not without_restart:
                result["left_after_60s"] = await open_rows(session, sidecar.url)
                sidecar.kill()
                sidecar.start()
                await sidecar.wait_ready(session)
                await sidecar.wait_drained(session, within=120)
            checks.append(await check_outbox(session, sidecar.url, sales))
            status = await sidecar.status(session)
        counts = ledger_counts(simulator, "PaymentReward")
        delivery = exactly_once(sorted(sales.acknowledged), counts)
        refused_delivered = sorted(p for p in sales.refused if counts.get(p))
        false_acks = set().union(*(c.false_acks for c in checks))
        refused_stored = set().union(*(c.refused_stored for c in checks))
        result |= {
            "acknowledged": len(sales.acknowledged),
            "refused_503": len(sales.refused),
            "other_answers": dict(sales.other) or 0,
            "stored": checks[-1].stored,
            "false_acks": len(false_acks),
            "refused_stored": len(refused_stored),
            "delivered": delivery.delivered,
            "lost": len(delivery.lost),
            "duplicated": len(delivery.duplicated),
            "refused_delivered": len(refused_delivered),
            "dead_letters": status["outbox"]["deadLetters"],
            "log_errors": log_problems(work / "full.log")[0],
            "refusal": sales.refusal_message[:60],
        }
        ok = (
            first is not None
            and not sales.other
            and recovered == recovery_calls
            and not false_acks
            and not refused_stored
            and without_restart
            and not delivery.lost
            and not delivery.duplicated
            and not refused_delivered
        )
        return ok, result
    finally:
        sidecar.kill()
        await simulator.stop()
        unmount(mount_point)


async def quota(work: Path, quick: bool, simulators: Simulators) -> tuple[bool, dict[str, object]]:
    """sidecar.max_db_mb reached on a roomy disk: the same promise, then a restart with a larger
    quota drains everything exactly once."""
    simulator = simulators.new()
    await simulator.start()
    data_dir = work / "quota-data"
    sales = Sales("quota", random.Random(7))
    sidecar = new_sidecar(simulator, data_dir, work / "quota.log", SIDECAR_SIDECAR_MAX_DB_MB="1")
    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            await simulator.set_down(True)
            first = await fill_until_refused(
                session, sidecar.url, sales, after=10 if quick else 20, cap=400
            )
            check = await check_outbox(session, sidecar.url, sales)
            sidecar.stop()
            sidecar = new_sidecar(
                simulator, data_dir, work / "quota.log", SIDECAR_SIDECAR_MAX_DB_MB="64"
            )
            sidecar.start()
            await sidecar.wait_ready(session)
            await simulator.set_down(False)
            await sidecar.wait_drained(session, within=120)
        delivery = exactly_once(
            sorted(sales.acknowledged), ledger_counts(simulator, "PaymentReward")
        )
        ok = first is not None and not sales.other and check.ok
        ok = ok and not delivery.lost and not delivery.duplicated
        return ok, {
            "max_db_mb": 1,
            "acknowledged": len(sales.acknowledged),
            "refused_503": len(sales.refused),
            "other_answers": dict(sales.other) or 0,
            "false_acks": len(check.false_acks),
            "refused_stored": len(check.refused_stored),
            "delivered": delivery.delivered,
            "lost": len(delivery.lost),
            "duplicated": len(delivery.duplicated),
            "refusal": sales.refusal_message[:60],
        }
    finally:
        sidecar.kill()
        await simulator.stop()


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


async def unwritable_during_delivery(
    work: Path, simulators: Simulators
) -> tuple[bool, dict[str, object]]:
    """Gameball takes queued payments while the database refuses writes (chattr +i for 3 s):
    the sales must still be delivered exactly once, and once the disk is writable again the
    queue must drain by itself, without a restart."""
    data_dir = work / "delivery-data"
    simulator = simulators.new()
    await simulator.start()
    sidecar = new_sidecar(simulator, data_dir, work / "delivery.log")
    sales = Sales("deliv", random.Random(9))
    db_files = [str(data_dir / DB_NAME), str(data_dir / (DB_NAME + "-wal"))]
    report: dict[str, object] = {}
    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            await simulator.set_down(True)
            for _ in range(12):  # 10 customers, two with a second sale waiting behind the first
                await sales.send(session, sidecar.url)
            # Gameball is back, and takes 2 s over each payment: long enough to catch them.
            simulator.sim.set_fault("slow", paths=["payments"], delay_seconds=2)
            await simulator.set_down(False)

            async def on_the_wire() -> bool:
                return int((await sidecar.status(session))["outbox"]["inFlight"]) > 0

            report["caught_in_flight"] = await wait_until(on_the_wire, within=20, interval=0.05)
            rc, message = shell("chattr", "+i", *db_files)
            if rc != 0:
                return True, {"chattr_i": f"unsupported ({message[:40]})"}
            try:
                await asyncio.sleep(3)
            finally:
                shell("chattr", "-i", *db_files)
            simulator.sim.clear_faults()
            without_restart = await drained(session, sidecar, 30)
            report["drained_without_restart"] = "yes" if without_restart else "NO"
            if not without_restart:
                report["left_after_30s"] = await open_rows(session, sidecar.url)
                report["status_attention"] = len((await sidecar.status(session))["attention"])
                sidecar.kill()
                sidecar.start()
                await sidecar.wait_ready(session)
                await sidecar.wait_drained(session, within=60)
                report["after_restart"] = "drained"
        delivery = exactly_once(
            sorted(sales.acknowledged), ledger_counts(simulator, "PaymentReward")
        )
        report |= {
            "acknowledged": len(sales.acknowledged),
            "delivered": delivery.delivered,
            "lost": len(delivery.lost),
            "duplicated": len(delivery.duplicated),
        }
        ok = len(sales.acknowledged) == 12 and not delivery.lost and not delivery.duplicated
        return ok and without_restart, report
    finally:
        shell("chattr", "-i", *db_files)
        sidecar.kill()
        await simulator.stop()


def _stored_on_disk(path: Path, prefix: str) -> set[str]:
    """After a SIGKILL: the payments the file itself holds (WAL recovered by a fresh open)."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT idem_key FROM outbox WHERE kind = 'payment' AND idem_key LIKE ?",
            (f"payment:{prefix}%",),
        ).fetchall()
    return {str(r[0]).removeprefix("payment:") for r in rows}


async def run(quick: bool) -> bool:
    work = Path(tempfile.mkdtemp(prefix="chaos-disk-"))
    started = time.monotonic()
    results: dict[str, tuple[bool, dict[str, object]]] = {}
    simulators = Simulators()
    try:
        scenarios: list[tuple[str, Callable[[], Awaitable[tuple[bool, dict[str, object]]]]]] = [
            ("full", lambda: full_filesystem(work, quick, simulators)),
            ("quota", lambda: quota(work, quick, simulators)),
            ("read-only start", lambda: read_only_start(work, simulators)),
            ("read-only while running", lambda: read_only_while_running(work, simulators)),
            ("unwritable during delivery", lambda: unwritable_during_delivery(work, simulators)),
        ]
        only = os.environ.get("CHAOS_DISK_ONLY")  # e.g. "full", to look at one scenario
        for name, scenario in scenarios:
            if only and name != only:
                results[name] = (True, {"skipped": "CHAOS_DISK_ONLY"})
                continue
            already = len(simulators.started)
            try:
                results[name] = await scenario()
            except Exception as exc:
                results[name] = (False, {"crashed": f"{type(exc).__name__}: {exc}"})
            ok, values = results[name]
            outside_spec = spec_violations(f"disk {name}", *simulators.started[already:])
            values["spec_violations"] = outside_spec
            ok = ok and outside_spec == 0
            results[name] = (ok, values)
            print(figures(f"disk {name} [{'ok' if ok else 'FAILED'}]", values), flush=True)
    finally:
        if all(ok for ok, _ in results.values()):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"disk: sidecar logs kept in {work}", flush=True)
    full = results["full"][1]
    false_acks = sum(int(str(v[1].get("false_acks", 0))) for v in results.values())
    print(
        figures(
            "disk",
            {
                "acknowledged": full.get("acknowledged", "?"),
                "refused_503": full.get("refused_503", "?"),
                "stored": full.get("stored", "?"),
                "lost": full.get("lost", "?"),
                "false_acks": false_acks,
                "recovered": full.get("recovered", "no"),
                "read_only_start": results["read-only start"][1].get("read_only_start", "?"),
                "spec_violations": spec_violations("disk", *simulators.started),
                "seconds": round(time.monotonic() - started),
            },
        ),
        flush=True,
    )
    return all(ok for ok, _ in results.values())


def main(quick: bool) -> bool:
    return asyncio.run(run(quick))

"""Disk scenario "unwritable during delivery": the database refuses writes while payments are on
the wire to Gameball; each must still be delivered exactly once, the queue drain by itself."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp

from scripts.chaos_suites.common import exactly_once, ledger_counts, wait_until
from scripts.chaos_suites.disk.sales import Sales, Simulators, drained, new_sidecar, open_rows
from scripts.chaos_suites.disk.shell import shell
from sidecar.store.database import DB_NAME


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

"""Disk scenario "quota": sidecar.max_db_mb reached on a roomy disk keeps the same promise as a
full disk, and a restart with a larger quota delivers every acknowledged sale exactly once."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp

from scripts.chaos_suites.common import exactly_once, ledger_counts
from scripts.chaos_suites.disk.sales import (
    Sales,
    Simulators,
    check_outbox,
    fill_until_refused,
    new_sidecar,
)


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

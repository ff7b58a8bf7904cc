"""Disk scenario "full": the database's file system (a small tmpfs) fills up while Gameball is
down, then gets room back twice; no restart may be needed to take sales or to drain."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import aiohttp

from scripts.chaos_suites.common import exactly_once, ledger_counts, log_problems
from scripts.chaos_suites.disk.sales import (
    MIB,
    Check,
    Sales,
    Simulators,
    check_outbox,
    drained,
    fill_until_refused,
    new_sidecar,
    open_rows,
)
from scripts.chaos_suites.disk.shell import shell, unmount


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

"""Suite "offline_redemption": a real sidecar with [offline_redemption] on and small caps. The
tills read their shoppers' balances, Gameball goes down, and they sell with points offline
(holds burned by payments and orders, redeem-nows, holds given back, holds walked away from)
while some shoppers spend their points at another store meanwhile; the sidecar is SIGKILLed
while selling and again and again during the replay, right after a re-hold reached Gameball
(the sale then slow, so the kill falls between the re-hold and the sale's answer). After the
last restart and drain the simulator's ledger must show each offline hold a sale burned
redeemed once for its points, or the sale recorded redemption_failed with exactly the points
and value the till discounted; nothing over a cap; nothing burned twice; and the status page's
exposure (absorbed + outstanding) what the rows say."""

from __future__ import annotations

import asyncio
import random
import tempfile
from typing import Any

import aiohttp

from scripts.chaos_suites.common import (
    call,
    figures,
    outbox_items,
    spec_violations,
    wait_until,
)
from scripts.chaos_suites.offline_checks import Caps, settle
from scripts.chaos_suites.offline_tills import Ledger, OfflineTill
from scripts.chaos_suites.tills import sidecar_in
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

CAPS = Caps(per_checkout=150, share=0.5, per_customer=400, per_terminal=6000)
HOLD = "/integrations/transactions/hold"


def _env(caps: Caps) -> dict[str, str]:
    return {
        "SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true",
        "SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_CHECKOUT": str(caps.per_checkout),
        "SIDECAR_OFFLINE_REDEMPTION_MAX_SHARE_OF_BALANCE": str(caps.share),
        "SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_CUSTOMER_PER_DAY": str(caps.per_customer),
        "SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_TERMINAL_PER_DAY": str(caps.per_terminal),
        "SIDECAR_PACING_ENABLED": "false",
        "SIDECAR_OUTBOX_CONCURRENCY": "4",
        "SIDECAR_BUDGETS_HOLD": "1",
    }


def _reholds(simulator: SimulatorServer) -> int:
    return sum(
        1 for r in simulator.sim.requests if r["method"] == "POST" and r["path"].endswith(HOLD)
    )


async def _restart(sidecar: SidecarProcess, session: aiohttp.ClientSession) -> None:
    sidecar.kill()
    sidecar.start()
    await sidecar.wait_ready(session)


async def _replay_with_kills(
    sidecar: SidecarProcess,
    simulator: SimulatorServer,
    session: aiohttp.ClientSession,
    rng: random.Random,
    kills: int,
) -> int:
    """Heal Gameball and kill the sidecar each time a re-hold has just reached Gameball, with
    sales answered slowly so that the kill falls before the sale's answer; then drain."""
    done = 0
    await simulator.set_down(False)
    while done < kills:
        seen = _reholds(simulator)
        simulator.sim.set_fault(
            "slow",
            paths=["/integrations/payments", "/integrations/orders"],
            delay_seconds=0.4,
            count=rng.choice([1, 2, 3]),
        )

        async def reheld(seen: int = seen) -> bool:
            return _reholds(simulator) > seen

        if not await wait_until(reheld, within=10, interval=0.005):
            break  # no re-hold left to interrupt
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        await _restart(sidecar, session)
        done += 1
    simulator.sim.clear_faults()
    await sidecar.wait_drained(session, within=300)
    return done


async def run(customers: int, checkouts: int, kills: int, seed: int = 20261202) -> bool:
    rng = random.Random(seed)
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await simulator.start()
    names = [f"off-{n:03d}" for n in range(customers)]
    for n, customer in enumerate(names):
        simulator.sim.seed_customer(customer, points=(300, 800, 2000)[n % 3])
    ledger = Ledger()
    balances: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = sidecar_in(tmp, simulator, **_env(CAPS))
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            for customer in names:  # the shopper is identified: the till shows the balance
                seen = await call(session, "GET", f"{sidecar.url}/v1/customers/{customer}/balance")
                balances[customer] = float(seen.body["availablePointsBalance"])
            await simulator.set_down(True)
            tills = [
                asyncio.create_task(
                    OfflineTill(
                        session,
                        sidecar.url,
                        customer,
                        ledger,
                        checkouts=checkouts,
                        rng=random.Random(rng.random()),
                    ).run()
                )
                for customer in names
            ]
            killed_offline = 0
            while not all(t.done() for t in tills):
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                if killed_offline < 2 and not all(t.done() for t in tills):
                    await _restart(sidecar, session)
                    killed_offline += 1
            await asyncio.gather(*tills)
            # Meanwhile a third of the shoppers spent most of their points at another store.
            for customer in names[::3]:
                available = int(simulator.sim.balance(customer)["availablePointsBalance"])
                if available > 30:
                    simulator.sim.spend_elsewhere(customer, available - 30)
            killed_replay = await _replay_with_kills(sidecar, simulator, session, rng, kills)
            rows = await outbox_items(session, sidecar.url)
            status = (await call(session, "GET", f"{sidecar.url}/v1/status")).body
            clean_stop = sidecar.stop() == 0
    await simulator.stop()
    result = settle(simulator, ledger, rows, status, balances, CAPS)
    outside_spec = spec_violations("offline_redemption", simulator)
    print(
        figures(
            "offline_redemption",
            {
                "checkouts": ledger.checkouts,
                "provisional": len(ledger.held),
                "burned": result.burned,
                "redemption_failed": result.failed,
                "over_cap": len(result.over_cap),
                "double_burn": len(result.double_burn),
                "exposure": result.exposure,
            },
        ),
        flush=True,
    )
    details: dict[str, Any] = {
        "kills_offline": killed_offline,
        "kills_in_replay": killed_replay,
        "released": result.released,
        "walked_away": result.outstanding,
        "reholds": result.reholds,
        "orphan_reholds": result.orphans,
        "refused": ",".join(f"{k}:{v}" for k, v in sorted(ledger.refused.items())) or "none",
        "sales_lost": len(result.sales_lost),
        "unsettled": len(result.unsettled),
        "exposure_mismatch": len(result.exposure_mismatch),
        "spec_violations": outside_spec,
    }
    print("offline_redemption:   " + " ".join(f"{k}={v}" for k, v in details.items()), flush=True)
    problems = [
        *result.over_cap,
        *result.double_burn,
        *result.sales_lost,
        *result.unsettled,
        *result.exposure_mismatch,
        *ledger.unexpected,
    ]
    for problem in problems[:8]:
        print(f"  {problem}", flush=True)
    return clean_stop and not problems and outside_spec == 0 and killed_replay >= min(kills, 1)


def main(quick: bool) -> bool:
    if quick:
        return asyncio.run(run(customers=6, checkouts=8, kills=3))
    return asyncio.run(run(customers=24, checkouts=20, kills=12))

"""Power cuts: a real sidecar process is SIGKILLed again and again while tills send payments;
every payment it acknowledged must reach Gameball exactly once, in each customer's order."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from sidecar.simulator import SimulatorServer
from tests.support.processes import SidecarProcess

# A real process SIGKILLed again and again: run with -m slow, as scripts/chaos does.
pytestmark = pytest.mark.slow

CUSTOMERS = 12
PAYMENTS_EACH = 25
KILLS = 4


async def till(
    session: aiohttp.ClientSession,
    sidecar: SidecarProcess,
    customer: str,
    acknowledged: list[str],
    interrupted: list[str],
) -> None:
    """One POS lane: sends its payments in order, retrying the same one until it is answered."""
    for n in range(PAYMENTS_EACH):
        payment_id = f"{customer}-p{n:03d}"
        body = {"customerId": customer, "paymentId": payment_id, "totalPaid": 10 + n}
        while True:
            try:
                async with session.post(
                    f"{sidecar.url}/v1/finalize-payment",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as response:
                    if response.status in (200, 202):
                        acknowledged.append(payment_id)
                        break
                    assert response.status == 503, await response.text()
            except (aiohttp.ClientError, TimeoutError):
                interrupted.append(payment_id)  # sidecar down: the till tries again, like a POS
            await asyncio.sleep(0.05)


async def test_crash_sigkill_loses_and_duplicates_nothing(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    sidecar = SidecarProcess(
        base_url=simulator.base_url,
        data_dir=tmp_path / "data",
        log_path=tmp_path / "sidecar.log",
        SIDECAR_PACING_ENABLED="false",
    )
    random.seed(7)
    acknowledged: list[str] = []
    interrupted: list[str] = []
    customers = [f"crash-{n:02d}" for n in range(CUSTOMERS)]
    sidecar.start()
    async with aiohttp.ClientSession() as session:
        await sidecar.wait_ready(session)
        tills = [
            asyncio.create_task(till(session, sidecar, c, acknowledged, interrupted))
            for c in customers
        ]
        for kill in range(KILLS):
            await asyncio.sleep(random.uniform(0.3, 0.9))
            if kill % 2:
                await simulator.set_down(True)  # some payments are queued offline, too
            sidecar.kill()
            await asyncio.sleep(0.1)
            sidecar.start()
            await sidecar.wait_ready(session)
            await asyncio.sleep(random.uniform(0.1, 0.4))
            await simulator.set_down(False)
        await asyncio.wait_for(asyncio.gather(*tills), timeout=120)
        await sidecar.wait_drained(session)
        assert sidecar.stop() == 0

    ledger = [e for e in simulator.sim.ledger() if e["type"] == "PaymentReward"]
    delivered = Counter(e["transactionId"] for e in ledger)
    lost = set(acknowledged) - set(delivered)
    duplicated = [pid for pid, count in delivered.items() if count > 1]
    order_violations = 0
    for customer in customers:
        seen = [e["transactionId"] for e in ledger if e["customerId"] == customer]
        order_violations += seen != sorted(seen)
    print(
        f"\ncrash: kills={KILLS} acknowledged={len(acknowledged)} delivered={len(delivered)} "
        f"lost={len(lost)} duplicated={len(duplicated)} order_violations={order_violations} "
        f"interrupted_calls={len(interrupted)}"
    )
    assert len(acknowledged) == CUSTOMERS * PAYMENTS_EACH
    assert not lost and not duplicated and order_violations == 0
    assert sidecar.starts == KILLS + 1
    assert interrupted, "no kill landed while tills were sending: the test proved nothing"

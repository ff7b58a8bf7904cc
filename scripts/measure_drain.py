"""Time from Gameball's return to an empty outbox: N payments queued offline by a real sidecar
process, then the simulator comes back. Prints one line per run (paced and unpaced).

Usage, from the repository root:
    .venv/bin/python -m scripts.measure_drain [--payments 1000] [--customers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess


async def one_run(payments: int, customers: int, paced: bool) -> str:
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=paced))
    await simulator.start()
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = SidecarProcess(
            base_url=simulator.base_url,
            data_dir=Path(tmp) / "data",
            log_path=Path(tmp) / "sidecar.log",
            SIDECAR_PACING_ENABLED="true" if paced else "false",
            SIDECAR_OUTBOX_CONCURRENCY="8",
            SIDECAR_LIMITS_MAX_QUEUED_COUNT=str(payments + 1),
            SIDECAR_LIMITS_MAX_QUEUED_AMOUNT="1e9",
        )
        sidecar.start()
        try:
            async with aiohttp.ClientSession() as session:
                await sidecar.wait_ready(session)
                await simulator.set_down(True)
                for n in range(payments):
                    body = {
                        "customerId": f"drain-{n % customers:03d}",
                        "paymentId": f"drain-pay-{n:05d}",
                        "totalPaid": 10,
                    }
                    async with session.post(f"{sidecar.url}/v1/finalize-payment", json=body) as r:
                        assert r.status == 202, await r.text()
                started = time.monotonic()
                await simulator.set_down(False)
                await sidecar.wait_drained(session, within=900)
                elapsed = time.monotonic() - started
        finally:
            sidecar.stop()
            await simulator.stop()
    delivered = sum(1 for e in simulator.sim.ledger() if e["type"] == "PaymentReward")
    rejected_429 = sum(1 for r in simulator.sim.requests if r["status"] == 429)
    return (
        f"drain {'paced (30/s, 360/30s)' if paced else 'unpaced'}: payments={payments} "
        f"customers={customers} delivered={delivered} reconnect_to_empty={elapsed:.1f}s "
        f"rate={delivered / elapsed:.1f}/s answers_429={rejected_429}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--only", choices=("paced", "unpaced"))
    args = parser.parse_args()
    for paced in (False, True):
        if args.only and args.only != ("paced" if paced else "unpaced"):
            continue
        print(await one_run(args.payments, args.customers, paced), flush=True)


if __name__ == "__main__":
    asyncio.run(main())

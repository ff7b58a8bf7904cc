"""Render the /status page in headless Chromium and save a PNG, for a person to look at.

The sidecar and the simulator run in this process with a realistic moment staged: Gameball
down, a few sales queued, one dead letter. Needs Debian's chromium (apt-get install chromium).

Usage, from the repository root:
    .venv/bin/python -m scripts.status_screenshot [OUTPUT.png]
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

from sidecar.app import create_app
from sidecar.config import load_config
from sidecar.credentials import Secrets
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import STORE_ENV, free_port

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1000,1100",
]


async def main(output: str) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    simulator = SimulatorServer(Simulator())
    await simulator.start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            None,
            {**STORE_ENV, "GAMEBALL_BASE_URL": simulator.base_url, "SIDECAR_DATA_DIR": tmp},
        )
        runner = web.AppRunner(create_app(config, Secrets("k" * 16, "s" * 16)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            simulator.sim.set_fault(
                "gameball_error", status=422, code=3003, count=1, paths=["/integrations/payments"]
            )
            await session.post(
                f"{base}/v1/finalize-payment",
                json={"customerId": "cust-1001", "paymentId": "sale-0990", "totalPaid": 12},
            )
            await simulator.set_down(True)
            for n in range(7):
                await session.post(
                    f"{base}/v1/finalize-payment",
                    json={
                        "customerId": f"c-{n}",
                        "paymentId": f"sale-{n + 1000}",
                        "totalPaid": 10 + n,
                    },
                )
            await asyncio.sleep(1.5)
        with tempfile.TemporaryDirectory() as profile:
            await asyncio.to_thread(
                subprocess.run,
                [
                    browser,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    f"--screenshot={output}",
                    f"{base}/status",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        await runner.cleanup()
    await simulator.stop()
    print(f"saved {output}")


if __name__ == "__main__":
    asyncio.run(main(str(Path(sys.argv[1] if len(sys.argv) > 1 else "status.png").resolve())))

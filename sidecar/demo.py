"""The zero-configuration demo: the built-in Gameball simulator and a sidecar pointed at it,
in one process, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from .app import create_app
from .config import Secrets, load_config
from .simulator import Simulator, SimulatorServer

DEMO_API_KEY = "demo-api-key"
DEMO_SECRET_KEY = "demo-secret-key"


async def run_demo(*, port: int, simulator_port: int, data_dir: str) -> None:
    simulator = SimulatorServer(Simulator(seed_demo=True))
    await simulator.start(host="127.0.0.1", port=simulator_port, control_port=simulator_port + 1)
    config = load_config(
        None,
        {
            "SIDECAR_PORT": str(port),
            "SIDECAR_DATA_DIR": data_dir,
            "GAMEBALL_BASE_URL": simulator.base_url,
            "SIDECAR_MERCHANT_ID": "demo-merchant",
            "SIDECAR_STORE_MERCHANT_NAME": "Demo Coffee Co.",
            "SIDECAR_BRANCH_ID": "demo-branch-1",
            "SIDECAR_STORE_BRANCH_NAME": "Downtown",
            "SIDECAR_TERMINAL_ID": "till-1",
        },
    )
    runner = web.AppRunner(create_app(config, Secrets(DEMO_API_KEY, DEMO_SECRET_KEY)))
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, config.sidecar.host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
        await simulator.stop()

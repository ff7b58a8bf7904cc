"""The zero-configuration demo: the built-in Gameball simulator and a sidecar pointed at it,
in one process, until Ctrl-C."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from .app import create_app
from .config import load_config
from .credentials import Secrets
from .simulator import Simulator, SimulatorServer

DEMO_API_KEY = "demo-api-key"
DEMO_SECRET_KEY = "demo-secret-key"
HOST = "127.0.0.1"


class PortUnavailable(Exception):
    """A port the demo needs cannot be listened on (usually: it is taken); the message names
    it and the option that moves it."""


async def run_demo(
    *,
    port: int,
    simulator_port: int,
    data_dir: str,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    simulator = SimulatorServer(Simulator(seed_demo=True))
    try:
        await simulator.start(host=HOST, port=simulator_port, control_port=simulator_port + 1)
    except OSError as exc:
        await simulator.stop()
        busy = [p for p in (simulator_port, simulator_port + 1) if _taken(p)] or [simulator_port]
        what = "for the simulator and, on the next port, its control API"
        raise _unavailable(exc, busy, what, "--simulator-port") from None
    try:
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
                # So the README's offline walk-through can spend points too.
                "SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true",
                # One till alone: replay starts the moment "Gameball" is back.
                "SIDECAR_PACING_RECONNECT_JITTER_SECONDS": "0",
            },
        )
        runner = web.AppRunner(create_app(config, Secrets(DEMO_API_KEY, DEMO_SECRET_KEY)))
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, config.sidecar.host, port).start()
            except OSError as exc:
                raise _unavailable(exc, [port], "for the sidecar", "--port") from None
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            on_ready()
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await simulator.stop()


def _unavailable(exc: OSError, ports: list[int], what: str, option: str) -> PortUnavailable:
    named = f"port {ports[0]}" if len(ports) == 1 else f"ports {' and '.join(map(str, ports))}"
    if exc.errno == errno.EADDRINUSE:
        verb = "is" if len(ports) == 1 else "are"
        problem = f"{verb} already in use (another demo?); stop what uses it or"
    else:
        problem = f"cannot be listened on ({exc.strerror or exc});"
    return PortUnavailable(
        f"{named} on {HOST} ({what}) {problem} choose another port with {option}"
    )


def _taken(port: int) -> bool:
    """Whether something listens on ``port`` now (used only to word the message)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False

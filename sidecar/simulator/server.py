"""SimulatorServer: the API and control listeners on real sockets, and the blocking CLI entry."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import TracebackType

from aiohttp import web

from .app import PREFIX, create_api_app
from .control import CONTROL_PREFIX, create_control_app
from .faults import Fault
from .simulator import Simulator

log = logging.getLogger(__name__)

# Held requests are released on stop, so this only bounds a handler that misbehaves.
SHUTDOWN_TIMEOUT_SECONDS = 2.0


class SimulatorServer:
    """Runs a Simulator's API and control apps; the API socket can be closed and reopened."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._host = "127.0.0.1"
        self._port = 0
        self._control_port = 0
        self._api_runner: web.AppRunner | None = None
        self._control_runner: web.AppRunner | None = None
        self._api_site: web.TCPSite | None = None
        self._switch_lock = asyncio.Lock()
        # Down if forced by set_down(True) or while the fault mode is "down".
        self._forced_down = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, *, host: str = "127.0.0.1", port: int = 0, control_port: int = 0) -> None:
        """Listen on both ports; 0 picks a free port, kept for the server's whole life."""
        self._host = host
        self.sim.open()
        self._api_runner = web.AppRunner(
            create_api_app(self.sim, self),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        )
        await self._api_runner.setup()
        self._api_site = web.TCPSite(self._api_runner, host, port)
        await self._api_site.start()
        self._port = self._api_runner.addresses[0][1]
        self._control_runner = web.AppRunner(
            create_control_app(self.sim, self),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        )
        await self._control_runner.setup()
        await web.TCPSite(self._control_runner, host, control_port).start()
        self._control_port = self._control_runner.addresses[0][1]
        self.sim.faults.subscribe(self._on_fault)
        await self.apply_faults()

    @property
    def port(self) -> int:
        return self._port

    @property
    def control_port(self) -> int:
        return self._control_port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}{PREFIX}"

    @property
    def control_url(self) -> str:
        return f"http://{self._host}:{self._control_port}{CONTROL_PREFIX}"

    @property
    def api_up(self) -> bool:
        return self._api_site is not None

    async def set_down(self, down: bool) -> None:
        """Close the API socket (connections are refused) or reopen it on the same port."""
        self._forced_down = down
        if not down and self.sim.fault.mode == "down":
            self.sim.clear_faults()
        await self.apply_faults()

    async def apply_faults(self) -> None:
        """Open or close the API socket to match set_down() and the "down" fault."""
        await self._switch(self._forced_down or self.sim.fault.mode == "down")

    async def stop(self) -> None:
        self.sim.faults.unsubscribe(self._on_fault)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Let black-holed and slow requests go first, or cleanup would wait on them.
        self.sim.close()
        for runner in (self._control_runner, self._api_runner):
            if runner is not None:
                await runner.cleanup()
        self._control_runner = self._api_runner = self._api_site = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _on_fault(self, fault: Fault) -> None:
        # set_fault() is synchronous; the socket switch it may imply runs as a task.
        socket_disagrees = (fault.mode == "down") == self.api_up
        if self._api_runner is None or not socket_disagrees:
            return
        try:
            task = asyncio.get_running_loop().create_task(self.apply_faults())
        except RuntimeError:  # no running loop: nothing is being served
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _switch(self, down: bool) -> None:
        async with self._switch_lock:
            runner = self._api_runner
            if runner is None:
                return
            if down and self._api_site is not None:
                await self._api_site.stop()
                self._api_site = None
                # Kept-alive connections would still reach a "down" Gameball: cut them too.
                if runner.server is not None:
                    for connection in runner.server.connections:
                        if connection.transport is not None:
                            connection.transport.abort()
                log.info("simulator API is down (port %d closed)", self._port)
            elif not down and self._api_site is None:
                site = web.TCPSite(runner, self._host, self._port)
                await site.start()
                self._api_site = site
                log.info("simulator API is up again on port %d", self._port)


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 8790,
    control_port: int = 8791,
    api_key: str | None = None,
    secret_key: str | None = None,
) -> None:
    """Serve the simulator until SIGINT or SIGTERM."""
    asyncio.run(_serve(host, port, control_port, api_key, secret_key))


async def _serve(
    host: str, port: int, control_port: int, api_key: str | None, secret_key: str | None
) -> None:
    server = SimulatorServer(Simulator(api_key=api_key, secret_key=secret_key))
    await server.start(host=host, port=port, control_port=control_port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    log.info("Gameball simulator serving %s (control %s)", server.base_url, server.control_url)
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()

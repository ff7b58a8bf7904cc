"""The processes the benchmark measures: the sidecar (tests.support's SidecarProcess, told READY
over a real NOTIFY_SOCKET) and the bare pass-through proxy it is compared with."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from scripts.benchmarks import cpu
from scripts.benchmarks.plan import ROOT
from tests.support.processes import SidecarProcess, free_port


class Sidecar:
    """One `python -m sidecar serve` process on its own data directory, logging at WARNING."""

    def __init__(self, *, base_url: str, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self._notify_path = workdir / "notify.sock"
        self._harness = SidecarProcess(
            base_url=base_url,
            data_dir=workdir / "data",
            log_path=workdir / "sidecar.log",
            NOTIFY_SOCKET=str(self._notify_path),
            SIDECAR_SIDECAR_LOG_LEVEL="WARNING",
            GAMEBALL_API_KEY="bench-api-key",
            GAMEBALL_SECRET_KEY="bench-secret-key",
            **env,
        )
        self.url = self._harness.url
        self.db_path = workdir / "data" / "sidecar.db"

    @property
    def pid(self) -> int:
        assert self._harness.process is not None
        return self._harness.process.pid

    async def start(self, within: float = 30) -> float:
        """Start the process and return the seconds until it sent READY=1 (what systemd's
        Type=notify waits for), measured from just before the fork."""
        self._notify_path.unlink(missing_ok=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(self._notify_path))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            self._harness.start()
            async with asyncio.timeout(within):
                while True:
                    message = (await loop.sock_recv(sock, 4096)).decode()
                    if "READY=1" in message.splitlines():
                        return time.perf_counter() - started

    def rss_mb(self) -> float:
        return cpu.rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu.cpu_seconds(self.pid)

    async def status(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        return await self._harness.status(session)

    async def wait_drained(self, session: aiohttp.ClientSession, within: float) -> None:
        await self._harness.wait_drained(session, within=within)

    def stop(self) -> None:
        if self._harness.process is not None and self._harness.process.poll() is None:
            self._harness.stop()


class BareProxy:
    """scripts/benchmarks/proxy.py in a process of its own, on a free port."""

    def __init__(self, upstream: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._upstream = upstream
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "scripts.benchmarks.proxy", self._upstream, str(self.port)]
        self.process = subprocess.Popen(command, cwd=ROOT)

    async def start(self) -> None:
        self._spawn()
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise RuntimeError("the bare proxy did not listen within 10 s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

"""A real sidecar process for crash and restart tests: started with `python -m sidecar serve`,
killed with SIGKILL or stopped with SIGTERM, and started again on the same database."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from .waits import wait_until

STORE_ENV = {
    "SIDECAR_MERCHANT_ID": "merchant-42",
    "SIDECAR_STORE_MERCHANT_NAME": "Acme Coffee",
    "SIDECAR_BRANCH_ID": "branch-7",
    "SIDECAR_STORE_BRANCH_NAME": "Downtown",
    "SIDECAR_TERMINAL_ID": "till-3",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_ports() -> tuple[int, int]:
    """A port for the demo's sidecar and one for its simulator whose next port (the control
    API) is free too, none of the three the same: two free_port() calls could give the
    simulator the port just below the sidecar's, whose control API then found it taken."""
    while True:
        with socket.socket() as low, socket.socket() as high, socket.socket() as own:
            low.bind(("127.0.0.1", 0))
            simulator = int(low.getsockname()[1])
            try:
                high.bind(("127.0.0.1", simulator + 1))
            except OSError:
                continue
            own.bind(("127.0.0.1", 0))
            return int(own.getsockname()[1]), simulator


async def wait_ready(
    session: aiohttp.ClientSession,
    url: str,
    process: subprocess.Popen[bytes],
    within: float = 20,
    hint: str = "",
) -> None:
    """Poll /readyz until the process answers 200; fail fast if it exits."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"sidecar exited with {process.returncode}; {hint}")
        try:
            async with session.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"sidecar not ready within {within}s; {hint}")


class SidecarProcess:
    def __init__(self, *, base_url: str, data_dir: Path, log_path: Path, **env: str) -> None:
        self.port = free_port()
        # Where ``python -m sidecar`` finds its package first: another release's checkout runs
        # that release.
        self.cwd: Path | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._env = {
            **os.environ,
            **STORE_ENV,
            "GAMEBALL_BASE_URL": base_url,
            "GAMEBALL_API_KEY": "harness-api-key",
            "GAMEBALL_SECRET_KEY": "harness-secret-key",
            "SIDECAR_PORT": str(self.port),
            "SIDECAR_DATA_DIR": str(data_dir),
            "SIDECAR_CONNECTIVITY_PROBE_INITIAL": "0.2",
            "SIDECAR_CONNECTIVITY_PROBE_MAX": "1",
            "SIDECAR_PACING_RECONNECT_JITTER_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "serve"],
            env=self._env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1

    def kill(self) -> None:
        """Power cut: SIGKILL, no chance to flush or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> int:
        """systemctl stop: SIGTERM, then wait for a clean exit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    async def wait_ready(self, session: aiohttp.ClientSession, within: float = 20) -> None:
        assert self.process is not None
        await wait_ready(session, self.url, self.process, within, f"see {self._log_path}")

    async def status(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.url}/v1/status") as response:
            report = await response.json()
        assert isinstance(report, dict), report
        return report

    async def wait_drained(self, session: aiohttp.ClientSession, within: float = 60) -> None:
        async def outbox() -> Any:
            return (await self.status(session))["outbox"]

        async def drained() -> bool:
            return bool((await outbox())["queued"] == 0)

        await wait_until(drained, within=within, interval=0.1, describe=outbox)

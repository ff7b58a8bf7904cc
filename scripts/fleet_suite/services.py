"""The fleet's two shared services as real processes: ONE Gameball simulator (its rate limits
on, so every sidecar draws on the same account budget) and a throwaway ``redis-server`` for
the shared-budget mode; each started on free ports and stopped by its own pid."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


class SimulatorProcess:
    """``gameball-sidecar simulator``, the command a developer runs, with its control API."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.control_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/api/v4.0"
        self.control_url = f"http://127.0.0.1:{self.control_port}/__sim__"
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "sidecar", "simulator", "--port", str(self.port)]
        command += ["--control-port", str(self.control_port)]
        with self._log_path.open("ab") as log:
            return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the simulator exited; see {self._log_path}")
            try:
                await self.control(session, "GET", "/health")
                return
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the simulator did not answer within 30 s; see {self._log_path}")

    async def control(
        self, session: aiohttp.ClientSession, method: str, path: str, body: Any = None
    ) -> Any:
        async with session.request(
            method,
            self.control_url + path,
            json=body,
            timeout=aiohttp.ClientTimeout(total=120),
        ) as response:
            raw = await response.read()
            if response.status != 200:
                raise RuntimeError(f"simulator {method} {path}: {response.status} {raw[:200]!r}")
        return msgspec.json.decode(raw)

    async def down(self, session: aiohttp.ClientSession) -> None:
        await self.control(session, "POST", "/faults", {"mode": "down"})

    async def up(self, session: aiohttp.ClientSession) -> None:
        await self.control(session, "DELETE", "/faults")

    async def reset(self, session: aiohttp.ClientSession) -> None:
        """A fresh account: ledger, journal, rate-limit windows, faults."""
        await self.control(session, "POST", "/reset")

    async def requests(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.control(session, "GET", "/requests"))["requests"]
        return found

    async def ledger(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.control(session, "GET", "/ledger"))[
            "transactions"
        ]
        return found

    async def violations(self, session: aiohttp.ClientSession) -> int:
        return int((await self.control(session, "GET", "/violations"))["count"])

    def stop(self) -> None:
        _terminate(self.process)


class RedisUnavailable(RuntimeError):
    pass


def find_redis_server() -> str:
    """redis-server on PATH, or the Debian package installed (as root, with apt-get)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("fleet: no redis-server; installing the Debian package redis-server", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=600,
            check=False,
        )
        found = shutil.which("redis-server")
        if found:
            return found
    raise RedisUnavailable(
        "the redis mode needs redis-server: install it (Debian/Ubuntu: apt-get install "
        "redis-server) or leave the mode out (--modes aimd,static)"
    )


class RedisProcess:
    """A redis-server of its own: no persistence, loopback only, gone when stopped."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = find_redis_server()
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--daemonize", "no"]
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self._log_path.parent, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited; see {self._log_path}")
            if self._ping():
                return
            time.sleep(0.05)
        raise RedisUnavailable(f"redis-server did not answer within 10 s; see {self._log_path}")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        _terminate(self.process)


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)

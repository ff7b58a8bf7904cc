"""A real redis-server for the shared pacing budget's tests: its own process on a free port,
its files in the test's temporary directory, nothing persisted; killed (SIGKILL) and started
again on the same port to play Redis going down mid-run. Without redis-server the tests that
need it fail with the install hint, never skip: CI must prove the shared budget."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .processes import free_port


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail(
                "redis-server is not installed: the shared pacing budget's tests need a real "
                "one. Install the Debian package: apt-get install --no-install-recommends "
                "redis-server (scripts/test does this when run as root or with passwordless sudo)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "redis.log").open("ab") as log:
            where = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
            return subprocess.Popen(
                [exe, *where, "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.process = self._spawn()
        for _ in range(500):
            if self.process.poll() is not None:
                text = (self.directory / "redis.log").read_text(errors="replace")
                raise AssertionError(f"redis-server exited at start:\n{text}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise AssertionError("redis-server did not listen within 10 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        server.kill()

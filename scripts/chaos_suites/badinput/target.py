"""The sidecar under attack in the badinput suite: its process, session and log (read for 5xx and
errors since the last case), whether it is healthy, and the shape of a case and its result."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support.processes import SidecarProcess

HEALTH_WITHIN = 5.0
E, H, F, R = "/v1/estimate-points", "/v1/hold-and-redeem", "/v1/finalize-payment", "/v1/refund"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Result:
    got: str
    ok: bool
    note: str = ""


@dataclass
class Target:
    """The sidecar under attack, and what its log said since the last case."""

    sidecar: SidecarProcess
    session: aiohttp.ClientSession
    log_path: Path
    log_offset: int = 0
    parser_errors: int = 0

    @property
    def url(self) -> str:
        return self.sidecar.url

    @property
    def port(self) -> int:
        return self.sidecar.port

    def alive(self) -> bool:
        return self.sidecar.process is not None and self.sidecar.process.poll() is None

    def new_log_problems(self) -> list[str]:
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            chunk = log.read()
        chunk = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits its turn
        self.log_offset += len(chunk)
        problems = []
        for line in chunk.decode(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            logger = str(entry.get("logger", ""))
            if logger == "sidecar.access" and int(entry.get("status", 0)) >= 500:
                problems.append(f"{entry['status']} in sidecar log")
            elif entry.get("level") in ("error", "critical"):
                if logger.startswith("sidecar"):
                    problems.append(f"logged error: {str(entry.get('message'))[:60]}")
                else:
                    self.parser_errors += 1
        return problems


Check = Callable[[Target], Awaitable[Result]]


@dataclass(frozen=True)
class Case:
    name: str
    check: Check


async def healthy(target: Target) -> bool:
    deadline = time.monotonic() + HEALTH_WITHIN
    while time.monotonic() < deadline and target.alive():
        try:
            async with target.session.get(target.url + "/healthz") as response:
                if response.status == 200:
                    return True
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    return False


async def warm_up(target: Target) -> None:
    """Touch each part once so lazily built things are not counted as growth."""
    for method, path, body in (
        ("POST", E, b'{"customerId": "cust-1001", "totalPaid": 5}'),
        ("POST", H, b"{}"),
        ("POST", F, b"{}"),
        ("POST", R, b"{}"),
        ("GET", "/v1/status", None),
        ("GET", "/status", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/v1/outbox", None),
    ):
        async with target.session.request(method, target.url + path, data=body, headers=JSON) as r:
            await r.read()

"""The offline backlog the finalize and drain phases work on: sales finalized with Gameball down
until the circuit opens or n are queued, and the drain timed from the simulator's side once
Gameball is back."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from scripts.benchmarks import loadgen
from scripts.benchmarks.procs import Sidecar
from sidecar.simulator import SimulatorServer
from sidecar.simulator.app import PREFIX


async def go_offline(session: aiohttp.ClientSession, sidecar: Sidecar) -> None:
    """Finalize a few sales with Gameball down until the circuit opens (not measured)."""
    for n in range(50):
        body = loadgen.body("finalize", "offline", n)
        async with session.post(f"{sidecar.url}/v1/finalize-payment", data=body) as answer:
            assert answer.status == 202, await answer.text()
        if (await sidecar.status(session))["connectivity"]["state"] == "offline":
            return
    raise RuntimeError("the sidecar did not go offline")


async def fill(
    session: aiohttp.ClientSession, server: SimulatorServer, sidecar: Sidecar, n: int, tag: str
) -> float:
    """Queue n payments with Gameball down, 16 at a time; returns payments per second."""
    await server.set_down(True)
    started = time.perf_counter()
    numbers = iter(range(n))

    async def worker() -> None:
        for i in numbers:
            body = loadgen.body("finalize", tag, i)
            async with session.post(f"{sidecar.url}/v1/finalize-payment", data=body) as answer:
                assert answer.status == 202, await answer.text()

    await asyncio.gather(*(worker() for _ in range(16)))
    return n / (time.perf_counter() - started)


async def drain(
    session: aiohttp.ClientSession, server: SimulatorServer, sidecar: Sidecar, n: int
) -> tuple[float, float]:
    """Bring Gameball back; returns seconds from then to the n-th payment it accepted, and
    from the first accepted payment to the n-th (arrival times in the simulator's journal)."""
    queued = (await sidecar.status(session))["outbox"]["queued"]
    assert queued == n, f"{queued} queued, expected {n}"
    reconnected = server.sim.now()
    await server.set_down(False)
    # Watched from the simulator's side: polling /v1/status would load the sidecar's database.
    while len(arrivals := accepted(server)) < n:  # noqa: ASYNC110 (the journal has no event)
        await asyncio.sleep(0.05)
    await sidecar.wait_drained(session, within=60)
    return arrivals[n - 1] - reconnected, arrivals[n - 1] - arrivals[0]


def accepted(server: SimulatorServer) -> list[float]:
    """Arrival times of the track-payment calls the simulator accepted, oldest first."""
    path = f"{PREFIX}/integrations/payments"
    return sorted(
        r["time"]
        for r in server.sim.requests
        if r["method"] == "POST" and r["path"] == path and r["status"] == 200
    )

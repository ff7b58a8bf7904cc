"""The service's life under systemd: READY=1 once it can serve, watchdog heartbeats, STOPPING=1
and a clean stop that loses nothing, tried on a real process with a real notify socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from sidecar.simulator import SimulatorServer
from tests.support.processes import SidecarProcess


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    yield sock
    sock.close()


async def messages(sock: socket.socket, until: str, within: float = 20) -> list[str]:
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    async with asyncio.timeout(within):
        while until not in seen:
            data = await loop.sock_recv(sock, 4096)
            seen.extend(data.decode().splitlines())
    return seen


async def test_lifecycle_ready_watchdog_stopping(
    simulator: SimulatorServer, tmp_path: Path, notify_socket: socket.socket
) -> None:
    sidecar = SidecarProcess(
        base_url=simulator.base_url,
        data_dir=tmp_path / "data",
        log_path=tmp_path / "sidecar.log",
        NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
        WATCHDOG_USEC="400000",
    )
    sidecar.start()

    ready = await messages(notify_socket, "READY=1")
    async with aiohttp.ClientSession() as session:
        await sidecar.wait_ready(session)
    beats = await messages(notify_socket, "WATCHDOG=1")
    beats += await messages(notify_socket, "WATCHDOG=1")
    code = await asyncio.to_thread(sidecar.stop)
    stopping = await messages(notify_socket, "STOPPING=1")

    assert "READY=1" in ready and any(m.startswith("STATUS=listening") for m in ready)
    assert beats.count("WATCHDOG=1") >= 2
    assert "STOPPING=1" in stopping and code == 0


async def test_lifecycle_stop_then_start_loses_nothing(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    sidecar = SidecarProcess(
        base_url=simulator.base_url,
        data_dir=tmp_path / "data",
        log_path=tmp_path / "sidecar.log",
        SIDECAR_BUDGETS_FINALIZE="0.3",
    )
    sidecar.start()
    async with aiohttp.ClientSession() as session:
        await sidecar.wait_ready(session)
        await simulator.set_down(True)
        async with session.post(
            f"{sidecar.url}/v1/finalize-payment",
            json={"customerId": "c-stop", "paymentId": "queued-over-stop", "totalPaid": 8},
        ) as response:
            queued = response.status
        await simulator.set_down(False)
        # The next one is on its way to a slow Gameball when the stop comes: it may finish.
        simulator.sim.set_fault("slow", delay_seconds=1.0, paths=["/integrations/payments"])
        async with session.post(
            f"{sidecar.url}/v1/finalize-payment",
            json={"customerId": "c-slow", "paymentId": "in-flight-at-stop", "totalPaid": 8},
        ) as response:
            in_flight = response.status
        stopped = await asyncio.to_thread(sidecar.stop)
        simulator.sim.clear_faults()

        sidecar.start()
        await sidecar.wait_ready(session)
        await sidecar.wait_drained(session)
        async with session.get(f"{sidecar.url}/v1/outbox?customerId=c-slow") as response:
            slow_item = (await response.json())["items"][0]
        assert sidecar.stop() == 0

    assert queued == 202 and in_flight == 202 and stopped == 0
    payments = [e["transactionId"] for e in simulator.sim.ledger() if e["type"] == "PaymentReward"]
    assert sorted(payments) == ["in-flight-at-stop", "queued-over-stop"]
    # Finished during the stop, so its own answer was recorded: no resend, no 9004.
    assert slow_item["state"] == "delivered" and slow_item["outcome"] == "ok"
    assert "stopped cleanly" in (tmp_path / "sidecar.log").read_text()

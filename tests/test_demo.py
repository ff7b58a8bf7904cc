"""The README's demo command: a real `gameball-sidecar demo` process, used as a newcomer would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    port, sim_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar",
            "demo",
            "--port",
            str(port),
            "--simulator-port",
            str(sim_port),
            "--data-dir",
            str(tmp_path / "var"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, output.decode()
        assert b"curl" in output


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("demo never became ready")


async def test_demo_checkout_walkthrough(demo: str) -> None:
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, demo)

        async with session.post(
            f"{demo}/v1/estimate-points", json={"customerId": "cust-1001", "totalPaid": 120}
        ) as r:
            estimate = await r.json()
        async with session.post(
            f"{demo}/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "demo-checkout-1", "points": 100},
        ) as r:
            hold = await r.json()
        async with session.get(f"{demo}/v1/holds/{hold['holdReference']}") as r:
            hold_state = await r.json()
        async with session.get(f"{demo}/v1/customers/cust-1001/balance") as r:
            balance = await r.json()

    assert estimate["source"] == "upstream" and estimate["totalPoints"] == 120
    assert hold["state"] == "active" and hold["holdPoints"] == 100
    assert hold_state["state"] == "active"
    assert balance["availablePointsBalance"] == 400

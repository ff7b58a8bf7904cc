"""The README's demo command: a real `gameball-sidecar demo` process, used as a newcomer would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import demo_ports, wait_ready


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port, sim_port = demo_ports()
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
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, output.decode()
        assert b"curl" in output


async def test_demo_checkout_walkthrough(
    demo: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, process = demo
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base, process)

        async with session.post(
            f"{base}/v1/estimate-points", json={"customerId": "cust-1001", "totalPaid": 120}
        ) as r:
            estimate = await r.json()
        async with session.post(
            f"{base}/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "demo-checkout-1", "points": 100},
        ) as r:
            hold = await r.json()
        async with session.get(f"{base}/v1/holds/{hold['holdReference']}") as r:
            hold_state = await r.json()
        async with session.get(f"{base}/v1/customers/cust-1001/balance") as r:
            balance = await r.json()

    assert estimate["source"] == "upstream" and estimate["totalPoints"] == 120
    assert hold["state"] == "active" and hold["holdPoints"] == 100
    assert hold_state["state"] == "active"
    assert balance["availablePointsBalance"] == 400


@pytest.mark.parametrize("taken", ["sidecar", "simulator", "control"])
def test_demo_on_a_taken_port_says_which_and_exits_non_zero(tmp_path: Path, taken: str) -> None:
    """Defect 14: `demo` on a port already in use printed its banner, then a traceback."""
    port, sim_port = demo_ports()
    busy = {"sidecar": port, "simulator": sim_port, "control": sim_port + 1}[taken]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()

        result = subprocess.run(
            [
                *(sys.executable, "-m", "sidecar", "demo", "--port", str(port)),
                *("--simulator-port", str(sim_port), "--data-dir", str(tmp_path / "var")),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {busy}" in result.stderr and "already in use" in result.stderr
    option = "--port" if taken == "sidecar" else "--simulator-port"
    assert option in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "curl" not in result.stdout  # no banner for a demo that is not running

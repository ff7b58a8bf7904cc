"""scripts/install upgrading a running service keeps its queue: the previous release (0.1.0)
installed by its own script into a temporary layout and run the way its unit runs it; sales
queued there while Gameball is down; this checkout's script run over it while it serves; then
the restart the script asks for (SIGTERM, the unit's ExecStart again). Every sale the old
service acknowledged, before or after its files were replaced, reaches Gameball exactly once.

Not covered here (systemd is not PID 1 on the machines this runs on): ``systemctl
daemon-reload`` and ``restart`` themselves, the script's "running the previous version" hint,
DynamicUser's ownership of /var/lib/private, the sandbox (ProtectSystem=strict and the rest),
Type=notify readiness and the watchdog."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sidecar.simulator import SimulatorServer
from tests.support.installs import (
    API_KEY,
    SECRET_KEY,
    Layout,
    UnitProcess,
    copy_checkout,
    release_checkout,
    run,
)
from tests.support.legacy import RELEASE_COMMIT, schema_version
from tests.support.processes import free_port, wait_ready
from tests.support.waits import wait_until

# Two real installs (venvs, pip) and real processes: run with -m slow, as scripts/chaos does.
pytestmark = pytest.mark.slow

CUSTOMERS = ("cust-1001", "cust-2002", "upg-3003")


def configure(layout: Layout, simulator: SimulatorServer, port: int) -> None:
    """What store IT edits in sidecar.toml, plus a fast reconnect for the test."""
    config = layout.etc / "sidecar.toml"
    text = config.read_text()
    for pattern, value in (
        (r"^port = 8787$", f"port = {port}"),
        (r'^base_url = ".*"$', f'base_url = "{simulator.base_url}"'),
        (r"^probe_initial = .*$", "probe_initial = 0.2"),
        (r"^probe_max = .*$", "probe_max = 1.0"),
    ):
        text, found = re.subn(pattern, value, text, count=1, flags=re.MULTILINE)
        assert found == 1, f"{pattern} not in {config}"
    config.write_text(text)


async def sell(
    session: aiohttp.ClientSession, url: str, count: int, start: int, **extra: Any
) -> list[str]:
    """Payments to the customers in turn; the ids the service acknowledged."""
    acknowledged = []
    for n in range(start, start + count):
        payment_id = f"upg-{n:03d}"
        body = {"customerId": CUSTOMERS[n % 3], "paymentId": payment_id, "totalPaid": 20}
        async with session.post(f"{url}/v1/finalize-payment", json=body | extra) as response:
            assert response.status in (200, 202), await response.text()
        acknowledged.append(payment_id)
        extra = {}
    return acknowledged


async def test_install_over_a_running_0_1_service_keeps_and_delivers_its_queue(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "system")
    old = release_checkout(RELEASE_COMMIT, tmp_path / "release-0.1.0")
    new = copy_checkout(tmp_path / "checkout")
    keys = {"GAMEBALL_API_KEY": API_KEY, "GAMEBALL_SECRET_KEY": SECRET_KEY}
    first = await asyncio.to_thread(run, old / "scripts" / "install", layout, **keys)
    assert first.returncode == 0, first.stdout + first.stderr
    port = free_port()
    configure(layout, simulator, port)
    url = f"http://127.0.0.1:{port}"
    service = UnitProcess(layout, tmp_path / "service.log")

    service.start()
    async with aiohttp.ClientSession() as session:
        assert service.process is not None
        await wait_ready(session, url, service.process, hint=f"see {tmp_path / 'service.log'}")
        held_body = {"customerId": "cust-1001", "checkoutId": "upg-co-1", "points": 50}
        async with session.post(f"{url}/v1/hold-and-redeem", json=held_body) as response:
            held = await response.json()
        acknowledged = await sell(session, url, 3, 0)  # online: delivered at once
        await simulator.set_down(True)
        redemption = {"redemption": {"pointsHoldReference": held["holdReference"]}}
        acknowledged += await sell(session, url, 30, 3, **redemption)
        refund = {"paymentId": "upg-004", "refundId": "upg-004-r", "amount": 5}
        async with session.post(f"{url}/v1/refund", json=refund) as response:
            assert response.status == 202, await response.text()

        schema_before = schema_version(layout.data)
        upgrade = await asyncio.to_thread(run, new / "scripts" / "install", layout)
        # The old process still serves, its files replaced under it: sales go on queueing.
        acknowledged += await sell(session, url, 6, 33)
        async with session.get(f"{url}/v1/status") as response:
            queued_before = (await response.json())["outbox"]["queued"]
        stopped = service.stop()
        service.start()
        await wait_ready(session, url, service.process, hint=f"see {tmp_path / 'service.log'}")
        async with session.get(f"{url}/v1/status") as response:
            queued_after = (await response.json())["outbox"]["queued"]
        await simulator.set_down(False)
        drained = await drain(session, url)
        stopped_again = service.stop()

    installed = await asyncio.to_thread(
        subprocess.run,
        [str(layout.prefix / "venv" / "bin" / "python"), "-c", "import sidecar.store.migrations"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    paid = Counter(
        e["transactionId"] for e in simulator.sim.ledger() if e["type"] == "PaymentReward"
    )
    cancelled = Counter(e["transactionId"] for e in simulator.sim.ledger() if e["type"] == "Cancel")
    redeemed = [e for e in simulator.sim.ledger() if e["type"] == "Redemption"]
    orders = {
        customer: [
            e["transactionId"]
            for e in simulator.sim.ledger(customer)
            if e["type"] == "PaymentReward"
        ]
        for customer in CUSTOMERS
    }
    print(
        f"\ninstall upgrade: acknowledged={len(acknowledged)} queued={queued_before} "
        f"delivered={sum(paid[p] for p in acknowledged)} stop={stopped}"
    )

    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert "installed gameball-sidecar into" in upgrade.stdout, upgrade.stdout
    assert installed.returncode == 0, "the venv still holds the previous release"
    assert "unchanged: " + str(layout.etc / "sidecar.toml") in upgrade.stdout
    assert (schema_before, schema_version(layout.data)) == (3, 4)
    assert stopped == 0 and stopped_again == 0
    assert queued_before == queued_after == 37, (queued_before, queued_after)
    assert drained, "the queue did not drain after the upgrade"
    assert all(paid[p] == 1 for p in acknowledged), {p: paid[p] for p in acknowledged}
    assert cancelled["upg-004-r"] == 1
    assert [e["transactionId"] for e in redeemed] == ["upg-003"]
    for customer, seen in orders.items():
        assert seen == sorted(seen), (customer, seen)


async def drain(session: aiohttp.ClientSession, url: str, within: float = 60) -> bool:
    async def empty() -> bool:
        async with session.get(f"{url}/v1/status") as response:
            return bool((await response.json())["outbox"]["queued"] == 0)

    try:
        await wait_until(empty, within=within, interval=0.2)
    except AssertionError:
        return False
    return True

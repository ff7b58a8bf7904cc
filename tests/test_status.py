"""Health, readiness and the JSON status report."""

from __future__ import annotations

from sidecar.app import components_key
from sidecar.simulator import SimulatorServer
from tests.support.clients import API_KEY, SECRET_KEY, Client
from tests.support.waits import wait_until


async def test_healthz_and_readyz(sidecar: Client) -> None:
    health = await sidecar.get("/healthz")
    ready = await sidecar.get("/readyz")

    assert health.status == 200 and (await health.json()) == {"status": "ok"}
    assert ready.status == 200 and (await ready.json())["ready"] is True


async def test_readyz_stays_ready_offline(sidecar: Client, simulator: SimulatorServer) -> None:
    await simulator.set_down(True)

    ready = await sidecar.get("/readyz")

    assert ready.status == 200


async def test_status_reports_store_connectivity_and_rules(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await wait_until(
        lambda: any("configurations/cashback" in r["path"] for r in simulator.sim.requests)
    )
    await wait_until(lambda: _status_rules_cached(sidecar))

    status = await (await sidecar.get("/v1/status")).json()

    assert status["store"]["branchId"] == "branch-7"
    assert status["connectivity"]["state"] == "online"
    assert status["earningRules"]["cached"] is True
    text = str(status)
    assert API_KEY not in text and SECRET_KEY not in text


def _status_rules_cached(client: Client) -> bool:
    return client.app is not None and client.app[components_key].rules.default is not None

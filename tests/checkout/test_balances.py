"""GET /v1/customers/{id}/balance: fresh, cached with its age, stale when offline."""

from __future__ import annotations

import pytest

from sidecar.checkout import balances
from sidecar.simulator import SimulatorServer
from tests.support.clients import Client, assert_error_shape
from tests.support.fixtures import MakeSidecar
from tests.support.waits import wait_until


async def test_balance_fresh_then_cached(sidecar: Client, simulator: SimulatorServer) -> None:
    first = await sidecar.get("/v1/customers/cust-1001/balance")
    second = await sidecar.get("/v1/customers/cust-1001/balance")

    fresh, cached = await first.json(), await second.json()
    assert first.status == 200
    assert fresh["source"] == "upstream" and fresh["stale"] is False
    assert fresh["availablePointsBalance"] == 500
    assert cached["source"] == "cache" and cached["ageSeconds"] >= 0


async def test_balance_offline_is_stale_with_age_even_after_restart(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    first = await make_sidecar()
    await first.get("/v1/customers/cust-2002/balance")
    await first.close()
    await simulator.set_down(True)

    restarted = await make_sidecar()
    response = await restarted.get("/v1/customers/cust-2002/balance")

    body = await response.json()
    assert response.status == 200
    assert body["source"] == "stale" and body["stale"] is True
    assert body["availablePointsBalance"] == 2000
    assert body["asOf"].endswith("Z")


async def test_balance_unknown_customer_is_404(sidecar: Client) -> None:
    response = await sidecar.get("/v1/customers/nobody-here/balance")

    assert response.status == 404
    assert_error_shape(await response.json(), "CUSTOMER_NOT_FOUND")


async def test_balance_never_seen_and_offline_is_503(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)

    response = await sidecar.get("/v1/customers/cust-1001/balance")

    body = await response.json()
    assert response.status == 503
    assert_error_shape(body, "BALANCE_UNAVAILABLE")
    assert body["error"]["retryable"] is True


async def test_balance_customer_id_with_odd_characters_reaches_gameball_intact(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.seed_customer("a b?c#é", points=7)

    response = await sidecar.get("/v1/customers/a%20b%3Fc%23%C3%A9/balance")

    body = await response.json()
    assert response.status == 200, body
    assert body["customerId"] == "a b?c#é" and body["availablePointsBalance"] == 7


async def test_offline_balance_after_a_delivery_is_the_one_gameball_had_after_it(
    sidecar: Client, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(balances, "REFRESH_DELAY", 0.01)
    await sidecar.get("/v1/customers/cust-1001/balance")  # 500, kept for offline answers
    sold = await sidecar.post(
        "/v1/finalize-payment",
        json={"customerId": "cust-1001", "paymentId": "p-refresh", "totalPaid": 100},
    )
    earned = (await sold.json())["rewardedPoints"]
    await wait_until(lambda: len(_balance_lookups(simulator)) == 2)  # refreshed in the background
    await simulator.set_down(True)

    offline = await (await sidecar.get("/v1/customers/cust-1001/balance")).json()

    assert earned > 0
    assert offline["source"] != "upstream" and offline["availablePointsBalance"] == 500 + earned


def _balance_lookups(simulator: SimulatorServer) -> list[dict[str, object]]:
    return [r for r in simulator.sim.requests if r["path"].endswith("/cust-1001/balance")]

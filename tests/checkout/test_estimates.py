"""POST /v1/estimate-points: Gameball's quote, the short cache, the labelled offline estimate."""

from __future__ import annotations

import time
from typing import Any

from sidecar.app import components_key
from sidecar.simulator import SimulatorServer
from tests.support.clients import Client, assert_error_shape
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_until

BASKET = {
    "customerId": "cust-1001",
    "totalPaid": 120.0,
    "totalAmount": 130.0,
    "totalDiscount": 10.0,
    "paymentDetails": [{"serviceId": "latte", "amount": 120.0, "category": ["drinks"]}],
}


def quotes_sent(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return [r for r in simulator.sim.requests if r["path"].endswith("/payments/cashback")]


async def test_estimate_upstream_answer_with_store_identity(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    response = await sidecar.post("/v1/estimate-points", json=BASKET)

    body = await response.json()
    assert response.status == 200
    assert body["source"] == "upstream"
    assert body["totalPoints"] == 120  # Bronze: 1 point per 1 paid
    sent = quotes_sent(simulator)[-1]["body"]
    assert sent["merchant"] == {
        "uniqueId": "merchant-42",
        "name": "Acme Coffee",
        "branch": {"uniqueId": "branch-7", "name": "Downtown"},
    }


async def test_estimate_same_basket_served_from_cache(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await (await sidecar.post("/v1/estimate-points", json=BASKET)).json()

    second = await (await sidecar.post("/v1/estimate-points", json=BASKET)).json()

    assert first["source"] == "upstream" and second["source"] == "cache"
    assert second["totalPoints"] == first["totalPoints"]
    assert len(quotes_sent(simulator)) == 1


async def test_estimate_offline_uses_cached_rules_and_says_so(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await wait_until(lambda: sidecar.app is not None and _rules_cached(sidecar))
    await simulator.set_down(True)

    response = await sidecar.post("/v1/estimate-points", json={"totalPaid": 75.5})

    body = await response.json()
    assert response.status == 200
    assert body["source"] == "offline-estimate"
    assert body["totalPoints"] == 75
    assert "estimate" in body["note"]


async def test_estimate_offline_is_tier_aware_once_customer_seen(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    online = await (
        await sidecar.post("/v1/estimate-points", json={"customerId": "cust-2002", "totalPaid": 50})
    ).json()
    await wait_until(lambda: _tier_learned(sidecar, "cust-2002"))
    await simulator.set_down(True)

    offline = await (
        await sidecar.post("/v1/estimate-points", json={"customerId": "cust-2002", "totalPaid": 40})
    ).json()
    stranger = await (
        await sidecar.post("/v1/estimate-points", json={"customerId": "cust-new", "totalPaid": 40})
    ).json()

    assert online["source"] == "upstream" and online["totalPoints"] == 100  # Gold: x2
    assert offline["source"] == "offline-estimate"
    assert offline["totalPoints"] == 80 and offline["tierName"] == "Gold"
    assert stranger["totalPoints"] == 40


async def test_estimate_offline_after_restart_with_gameball_down(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    first = await make_sidecar()
    await wait_until(lambda: _rules_cached(first))
    await first.close()
    await simulator.set_down(True)

    restarted = await make_sidecar()
    response = await restarted.post("/v1/estimate-points", json={"totalPaid": 33})

    body = await response.json()
    assert response.status == 200, body
    assert body["source"] == "offline-estimate"
    assert body["totalPoints"] == 33


async def test_estimate_without_any_rules_ever_is_503(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    sidecar = await make_sidecar()

    response = await sidecar.post("/v1/estimate-points", json={"totalPaid": 10})

    assert response.status == 503
    body = await response.json()
    assert_error_shape(body, "ESTIMATE_UNAVAILABLE")
    assert body["error"]["retryable"] is True


async def test_estimate_within_budget_when_gameball_black_holes(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_BUDGETS_ESTIMATE="0.4", SIDECAR_UPSTREAM_TIMEOUT="30")
    )
    await wait_until(lambda: _rules_cached(sidecar))
    simulator.sim.set_fault("blackhole")

    started = time.monotonic()
    response = await sidecar.post("/v1/estimate-points", json={"totalPaid": 20})
    elapsed = time.monotonic() - started

    body = await response.json()
    assert response.status == 200 and body["source"] == "offline-estimate"
    # The upstream timeout is 30 s; the answer must come at the 0.4 s budget, not near it.
    assert elapsed < 5


async def test_estimate_breaker_opens_then_answers_without_waiting(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_BUDGETS_ESTIMATE="0.3", SIDECAR_CONNECTIVITY_PROBE_INITIAL="60")
    )
    await wait_until(lambda: _rules_cached(sidecar))
    simulator.sim.set_fault("blackhole")
    for amount in (1, 2, 3):
        await sidecar.post("/v1/estimate-points", json={"totalPaid": amount})
    sent_before = len(quotes_sent(simulator))

    response = await sidecar.post("/v1/estimate-points", json={"totalPaid": 4})
    status = await (await sidecar.get("/v1/status")).json()

    assert (await response.json())["source"] == "offline-estimate"
    assert len(quotes_sent(simulator)) == sent_before  # no call went out: circuit open
    assert status["connectivity"]["state"] == "offline"


async def test_estimate_gameball_payload_rejection_is_422_with_code(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("gameball_error", status=400, code=3003, paths=["/payments/cashback"])

    response = await sidecar.post("/v1/estimate-points", json={"totalPaid": 12})

    body = await response.json()
    assert response.status == 422
    assert_error_shape(body, "UPSTREAM_REJECTED")
    assert body["error"]["upstreamCode"] == 3003


def _rules_cached(client: Client) -> bool:
    return client.app is not None and client.app[components_key].rules.default is not None


def _tier_learned(client: Client, customer_id: str) -> bool:
    return client.app is not None and client.app[components_key].rules.knows(customer_id)

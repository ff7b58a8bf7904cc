"""What the sidecar sends to Gameball fits Gameball's own OpenAPI spec, and every simulator answer
the sidecar reads fits it too."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from sidecar.simulator import SimulatorServer
from tests.conftest import wait_until
from tests.gameball_spec import validate_request, validate_response

Client = TestClient[Any, Any]
TEMPLATES = [
    (
        re.compile(r"^/api/v4\.0/integrations/transactions/hold/[^/]+$"),
        "/integrations/transactions/hold/{holdReferenceId}",
    ),
    (
        re.compile(r"^/api/v4\.0/integrations/customers/[^/]+/balance$"),
        "/integrations/customers/{customerId}/balance",
    ),
]


def template(path: str) -> str:
    for pattern, name in TEMPLATES:
        if pattern.match(path):
            return name
    return path.removeprefix("/api/v4.0")


async def checkout_traffic(sidecar: Client, simulator: SimulatorServer) -> None:
    await sidecar.post(
        "/v1/estimate-points",
        json={
            "customerId": "cust-1001",
            "totalPaid": 50,
            "totalTax": 5,
            "paymentDetails": [{"serviceId": "s1", "amount": 50, "tags": ["hot"]}],
        },
    )
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "k-1", "points": 10},
        )
    ).json()
    await sidecar.get(f"/v1/holds/{held['holdReference']}")
    await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            "customerId": "cust-1001",
            "checkoutId": "k-2",
            "amount": 2,
            "redeemNow": True,
            "transactionId": "sale-k-2",
        },
    )
    await sidecar.get("/v1/customers/cust-1001/balance")
    await wait_until(
        lambda: any("customerId" in (r["query"] or {}) for r in simulator.sim.requests)
    )


async def test_contract_every_upstream_request_fits_the_spec(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await checkout_traffic(sidecar, simulator)

    sent = [r for r in simulator.sim.requests if r["path"].startswith("/api/v4.0/")]

    operations = {(r["method"], template(r["path"])) for r in sent}
    assert {
        ("POST", "/integrations/payments/cashback"),
        ("POST", "/integrations/transactions/hold"),
        ("GET", "/integrations/transactions/hold/{holdReferenceId}"),
        ("POST", "/integrations/transactions/redeem"),
        ("GET", "/integrations/customers/{customerId}/balance"),
        ("GET", "/integrations/configurations/cashback"),
    } <= operations
    for request in sent:
        if request["method"] == "POST":
            validate_request("POST", template(request["path"]), request["json"])


async def test_contract_every_simulator_answer_fits_the_spec(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await checkout_traffic(sidecar, simulator)

    answered = [r for r in simulator.sim.requests if r["path"].startswith("/api/v4.0/")]

    assert len(answered) >= 6
    for entry in answered:
        assert entry["status"] == 200, entry
        validate_response(entry["method"], template(entry["path"]), 200, entry["response"])

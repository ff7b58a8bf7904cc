"""Ids in Gameball paths stay one segment whatever they hold; any 4xx proves Gameball reachable;
what the sidecar says about a failed call names the endpoint, never an id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from sidecar.errors import GameballRejected
from sidecar.gameball.client import UpstreamClient
from sidecar.gameball.connectivity import Connectivity
from sidecar.gameball.paths import balance_path, hold_path, path_template
from sidecar.simulator import SimulatorServer
from tests.support.clients import API_KEY, SECRET_KEY, Client, outbox_items
from tests.support.waits import wait_drained

PREFIX = "/api/v4.0"


@pytest.fixture
async def upstream(simulator: SimulatorServer) -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(
            session,
            base_url=simulator.base_url,
            api_key=API_KEY,
            secret_key=SECRET_KEY,
            timeout=5,
            connectivity=Connectivity(failure_threshold=3, probe_initial=1, probe_max=1),
        )


@pytest.mark.parametrize(
    ("path", "received"),
    [
        (hold_path(".."), "/integrations/transactions/hold/.."),
        (hold_path("."), "/integrations/transactions/hold/."),
        (balance_path(".."), "/integrations/customers/../balance"),
        (hold_path("a/../../b"), "/integrations/transactions/hold/a/../../b"),
        (hold_path("%2E%2E"), "/integrations/transactions/hold/%2E%2E"),
    ],
)
async def test_upstream_dot_ids_stay_in_their_segment(
    upstream: UpstreamClient, simulator: SimulatorServer, path: str, received: str
) -> None:
    """Defect 6: hold reference ".." was sent as /integrations/transactions/ (yarl decoded the
    dots and normalised the path); the id must arrive as the one segment it was."""
    with pytest.raises(GameballRejected):
        await upstream.call("GET", path, dict)

    # The journal shows the path percent-decoded; the answer shows which route took it.
    request = simulator.sim.requests[-1]
    assert request["path"] == PREFIX + received
    assert request["response"]["code"] == (7000 if "customers" in path else 9006)


@pytest.mark.spec_violations_expected  # it calls paths the spec does not have, on purpose
async def test_upstream_non_json_4xx_proves_gameball_reachable(
    upstream: UpstreamClient, simulator: SimulatorServer
) -> None:
    """Defect 6: three non-JSON 404s counted as outages and opened the circuit breaker."""
    refusals = []
    for _ in range(5):
        with pytest.raises(GameballRejected) as caught:
            await upstream.call("GET", "/integrations/no-such-endpoint", dict)
        refusals.append(caught.value)
    with pytest.raises(GameballRejected) as wrong_method:
        await upstream.call("PUT", "/integrations/payments", dict, body={})

    assert upstream.connectivity.online
    assert upstream.connectivity.last_success_at is not None
    assert {(r.http_status, r.code, r.transient) for r in refusals} == {(404, None, False)}
    assert (wrong_method.value.http_status, wrong_method.value.code) == (405, None)


async def test_upstream_json_4xx_and_5xx_keep_their_classes(
    upstream: UpstreamClient, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("html503", count=3)

    for _ in range(3):
        with pytest.raises(Exception) as caught:
            await upstream.call("GET", "/integrations/configurations/cashback", dict)
        assert not isinstance(caught.value, GameballRejected)

    assert not upstream.connectivity.online


async def test_status_last_failure_names_the_endpoint_not_the_customer(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """Defect 14: lastFailure on /v1/status showed the customer id from the failing path."""
    simulator.sim.set_fault("reset", paths=["/balance"])

    await sidecar.get("/v1/customers/cust-private-77/balance")
    status = await (await sidecar.get("/v1/status")).json()
    metrics = await (await sidecar.get("/metrics")).text()

    failure = status["connectivity"]["lastFailure"]
    assert "/integrations/customers/{customerId}/balance" in failure
    assert "cust-private-77" not in failure and "cust-private-77" not in metrics


def test_upstream_path_template_names_each_id_path() -> None:
    assert path_template(hold_path("x/y")) == "/integrations/transactions/hold/{holdReference}"
    assert path_template(balance_path("..")) == "/integrations/customers/{customerId}/balance"
    assert path_template("/integrations/payments") == "/integrations/payments"


async def test_upstream_edge_408_is_retried_not_a_dead_letter(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """A 408/425 page from the edge says "try again", not "this payload is wrong"."""
    simulator.sim.set_fault("html503", status=408, paths=["/integrations/payments"], count=1)

    response = await sidecar.post(
        "/v1/finalize-payment",
        json={"customerId": "cust-1001", "paymentId": "edge-408", "totalPaid": 5},
    )
    await wait_drained(sidecar, within=10)

    assert response.status == 202
    states = [i["state"] for i in await outbox_items(sidecar)]
    assert states == ["delivered"]


async def test_upstream_calls_carry_both_keys(sidecar: Client, simulator: SimulatorServer) -> None:
    await sidecar.post("/v1/estimate-points", json={"totalPaid": 5})
    await sidecar.get("/v1/customers/cust-1001/balance")

    sent = [r for r in simulator.sim.requests if r["path"].startswith("/api/v4.0")]

    assert sent
    for request in sent:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers.get("apikey") and headers.get("secretkey"), request["path"]

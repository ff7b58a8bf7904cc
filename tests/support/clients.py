"""Small clients for the two APIs the tests talk to: the sidecar's checkout calls (through
aiohttp's test client, on a real socket) and Gameball's, on the simulator, called the way the
sidecar calls it; with typed access to the JSON they answer."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from sidecar.app import connectivity_key
from sidecar.simulator import SimulatorServer

from .waits import wait_until

Client = TestClient[Any, Any]

# The store's keys, given to the sidecar and used by the Gameball client: no answer, log line
# or page may ever show them.
API_KEY = "test-api-key-0001"
SECRET_KEY = "test-secret-key-0002"


def as_object(value: object) -> dict[str, Any]:
    """A JSON object, checked: what the tests read by key."""
    assert isinstance(value, dict), value
    return value


def as_list(value: object) -> list[Any]:
    assert isinstance(value, list), value
    return value


async def json_object(response: aiohttp.ClientResponse) -> dict[str, Any]:
    return as_object(await response.json())


def assert_error_shape(body: Any, code: str) -> None:
    """The one error shape: {"error": {code, message, retryable, ...}}."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    assert isinstance(error["retryable"], bool)
    assert set(error) <= {"code", "message", "retryable", "upstreamCode", "details"}


# --- the sidecar's checkout calls ------------------------------------------------------------


def payment(customer: str, payment_id: str, paid: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {"customerId": customer, "paymentId": payment_id, "totalPaid": paid, **extra}


def with_hold(payment_id: str, paid: float, held: dict[str, Any]) -> dict[str, Any]:
    """A payment of cust-1001 that burns the hold ``held`` (as ``hold`` answered it)."""
    return payment(
        "cust-1001", payment_id, paid, redemption={"pointsHoldReference": held["holdReference"]}
    )


async def finalize(client: Client, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/finalize-payment", json=body)
    return response.status, await json_object(response)


async def refund(client: Client, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/refund", json=body)
    return response.status, await json_object(response)


async def hold(client: Client, checkout: str, points: int, **extra: Any) -> dict[str, Any]:
    """Hold (and with ``redeemNow`` redeem) points of cust-1001 for ``checkout``."""
    response = await client.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": checkout, "points": points, **extra},
    )
    return await json_object(response)


async def status(client: Client) -> dict[str, Any]:
    return await json_object(await client.get("/v1/status"))


async def outbox_items(client: Client, query: str = "") -> list[dict[str, Any]]:
    listing = await json_object(await client.get(f"/v1/outbox{query}"))
    return as_list(listing["items"])


async def outbox_item(client: Client, item_id: int) -> dict[str, Any]:
    return await json_object(await client.get(f"/v1/outbox/{item_id}"))


async def go_offline(client: Client) -> None:
    """Open the sidecar's circuit breaker: Gameball must already be down."""
    assert client.app is not None
    connectivity = client.app[connectivity_key]
    for _ in range(10):
        if connectivity.offline:
            return
        await client.post("/v1/estimate-points", json={"totalPaid": 1})
    await wait_until(lambda: connectivity.offline)


async def offline_after_balance(
    client: Client, simulator: SimulatorServer, customer: str = "cust-1001"
) -> None:
    """The till reads the customer's balance (which offline redemption needs), then Gameball
    goes down and the sidecar notices."""
    assert (await client.get(f"/v1/customers/{customer}/balance")).status == 200
    await simulator.set_down(True)
    await go_offline(client)


async def checkout(client: Client, *, email: str = "", mobile: str = "") -> dict[str, Any]:
    """A whole checkout of cust-1001: an estimate, a hold, and the payment that burns it."""
    await client.post("/v1/estimate-points", json={"customerId": "cust-1001", "totalPaid": 20})
    held = await hold(client, "ops-1", 10, otp="493817", ignoreOTP=True)
    paid = await client.post(
        "/v1/finalize-payment",
        json={
            **with_hold("ops-pay-1", 20, held),
            **({"email": email} if email else {}),
            **({"mobile": mobile} if mobile else {}),
        },
    )
    return await json_object(paid)


# --- what the simulator received ---------------------------------------------------------------


def payments_in_ledger(simulator: SimulatorServer, customer: str | None = None) -> list[str]:
    return [
        e["transactionId"] for e in simulator.sim.ledger(customer) if e["type"] == "PaymentReward"
    ]


def ledger(simulator: SimulatorServer, customer: str) -> list[tuple[str, str, int]]:
    """(transactionId, type, points) of every ledger row of ``customer``, oldest first."""
    return [(e["transactionId"], e["type"], e["points"]) for e in simulator.sim.ledger(customer)]


# --- Gameball, on the simulator ------------------------------------------------------------------


class GameballClient:
    """Calls the simulator like the sidecar would: APIKey/SecretKey headers, JSON both ways."""

    def __init__(self, session: aiohttp.ClientSession, server: SimulatorServer) -> None:
        self.session = session
        self.server = server
        self.headers = {"APIKey": API_KEY, "SecretKey": SECRET_KEY}

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text) for `path` below the base URL, e.g. /integrations/..."""
        async with self.session.request(
            method,
            self.server.base_url + path,
            json=json,
            headers=self.headers if headers is None else headers,
            params=params,
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def post(self, path: str, json: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json)

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self.call("GET", path, params=params)

    async def delete(self, path: str) -> tuple[int, Any]:
        return await self.call("DELETE", path)

    async def control(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.server.control_url + path, json=json
        ) as response:
            return response.status, await response.json()

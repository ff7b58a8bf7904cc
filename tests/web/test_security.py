"""Who may call the sidecar: only requests addressed to this machine (DNS rebinding), the token
when one is set, browsers only from allowed origins, and those origins can read every answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from sidecar.app import create_app
from sidecar.credentials import Secrets
from tests.support.clients import API_KEY, SECRET_KEY, Client, assert_error_shape
from tests.support.fixtures import MakeConfig, MakeSidecar

KIOSK = "http://localhost:3000"
TOKEN = "a-local-token-of-32-characters!!"
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]], make_config: MakeConfig
) -> MakeClient:
    async def make(*, token: str = "", **env: str) -> Client:
        config = make_config(SIDECAR_SIDECAR_CORS_ORIGINS=KIOSK, **env)
        app: web.Application = create_app(config, Secrets(API_KEY, SECRET_KEY, access_token=token))
        return await aiohttp_client(app)

    return make


async def test_cors_error_answers_carry_the_allow_origin_header(make_client: MakeClient) -> None:
    """Defect 10: 4xx answers to an allowed origin lacked Access-Control-Allow-Origin, so a
    kiosk app could not read why its request was refused."""
    client = await make_client()
    origin = {"Origin": KIOSK}

    invalid = await client.post("/v1/estimate-points", json={}, headers=origin)
    unknown = await client.get("/v1/nothing-here", headers=origin)
    wrong_method = await client.delete("/v1/estimate-points", headers=origin)

    for response, status in ((invalid, 422), (unknown, 404), (wrong_method, 405)):
        assert response.status == status
        assert response.headers.get("Access-Control-Allow-Origin") == KIOSK, status
        assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]
        assert response.headers["Vary"] == "Origin"


async def test_cors_healthz_never_echoes_a_foreign_origin(make_client: MakeClient) -> None:
    """Defect 10: /healthz echoed any Origin in Access-Control-Allow-Origin."""
    client = await make_client()

    response = await client.get("/healthz", headers={"Origin": "http://evil.example"})

    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_host_rebinding_name_is_refused(make_client: MakeClient) -> None:
    """Defect 11: a DNS-rebinding page (Host: its own name) could read /v1/outbox."""
    client = await make_client()

    response = await client.get("/v1/outbox", headers={"Host": "rebind.attacker.example:8787"})

    assert response.status == 403
    body = await response.json()
    assert_error_shape(body, "HOST_NOT_ALLOWED")
    assert "allowed_hosts" in body["error"]["message"]


@pytest.mark.parametrize(
    "host",
    [
        *("localhost", "localhost:8787", "LocalHost", "127.0.0.1", "127.0.0.1:8787"),
        *("127.9.8.7:1", "[::1]", "[::1]:8787", "[0:0:0:0:0:0:0:1]:8787", "[::ffff:127.0.0.1]"),
    ],
)
async def test_host_loopback_names_and_addresses_are_served(
    make_client: MakeClient, host: str
) -> None:
    """Defect 11: the Host check must not refuse this machine's own names."""
    client = await make_client()

    response = await client.get("/v1/outbox", headers={"Host": host})

    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    "host", ["localhost.", "x.localhost", "127.evil.example", "127.1", "2130706433", "0.0.0.0"]
)
async def test_host_names_that_only_look_local_are_refused(
    make_client: MakeClient, host: str
) -> None:
    """Defect 11: names a resolver may send to DNS, and numeric spellings, are not loopback."""
    client = await make_client()

    response = await client.get("/v1/status", headers={"Host": host})

    assert response.status == 403
    assert_error_shape(await response.json(), "HOST_NOT_ALLOWED")


async def test_host_allowed_hosts_entries_are_served(make_client: MakeClient) -> None:
    """Defect 11: sidecar.allowed_hosts (env comma-separated) extends the loopback names."""
    client = await make_client(SIDECAR_SIDECAR_ALLOWED_HOSTS="till-3.local, 10.0.0.5,[fe80::1]")

    named = await client.get("/v1/outbox", headers={"Host": "TILL-3.local:8787"})
    address = await client.get("/v1/outbox", headers={"Host": "10.0.0.5"})
    ipv6 = await client.get("/v1/outbox", headers={"Host": "[fe80:0::1]:8787"})
    other = await client.get("/v1/outbox", headers={"Host": "till-4.local"})

    assert (named.status, address.status, ipv6.status, other.status) == (200, 200, 200, 403)


async def test_host_any_host_is_served_with_the_token(make_client: MakeClient) -> None:
    """Defect 11: with an access token the token is the guard (the sidecar may then listen on
    the LAN, where clients name it by its LAN address)."""
    client = await make_client(token=TOKEN)

    with_token = await client.get(
        "/v1/outbox", headers={"Host": "10.1.2.3:8787", "Authorization": f"Bearer {TOKEN}"}
    )
    without = await client.get("/v1/outbox", headers={"Host": "10.1.2.3:8787"})

    assert with_token.status == 200
    assert without.status == 401
    assert_error_shape(await without.json(), "UNAUTHORIZED")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_token_scheme_is_case_insensitive(make_client: MakeClient, scheme: str) -> None:
    """Defect 14: `Authorization: bearer <token>` (valid per RFC 9110) was answered 401."""
    client = await make_client(token=TOKEN)

    response = await client.get("/v1/status", headers={"Authorization": f"{scheme} {TOKEN}"})

    assert response.status == 200


@pytest.mark.parametrize(
    "value",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", f"Bearer{TOKEN}", "Bearer "],
)
async def test_token_wrong_or_malformed_is_refused(make_client: MakeClient, value: str) -> None:
    client = await make_client(token=TOKEN)

    response = await client.get("/v1/status", headers={"Authorization": value})

    assert response.status == 401
    assert_error_shape(await response.json(), "UNAUTHORIZED")


async def test_token_required_on_every_route_but_health(
    aiohttp_client: AiohttpClient, make_config: MakeConfig
) -> None:
    token = "a-long-local-access-token"
    client = await aiohttp_client(
        create_app(make_config(), Secrets(API_KEY, SECRET_KEY, access_token=token))
    )

    health = await client.get("/healthz")
    anonymous = await client.get("/v1/status")
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = await client.get("/v1/status", headers={"Authorization": f"Bearer {token}"})

    assert health.status == 200
    assert anonymous.status == 401 and (await anonymous.json())["error"]["code"] == "UNAUTHORIZED"
    assert wrong.status == 401
    assert right.status == 200


async def test_cors_allow_list(make_sidecar: MakeSidecar, make_config: MakeConfig) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_SIDECAR_CORS_ORIGINS="http://kiosk.local:3000")
    )
    kiosk = {"Origin": "http://kiosk.local:3000"}

    preflight = await sidecar.options(
        "/v1/estimate-points", headers={**kiosk, "Access-Control-Request-Method": "POST"}
    )
    allowed = await sidecar.post("/v1/estimate-points", json={"totalPaid": 1}, headers=kiosk)
    foreign = await sidecar.post(
        "/v1/finalize-payment",
        json={"customerId": "c", "paymentId": "x", "totalPaid": 1},
        headers={"Origin": "http://evil.example"},
    )

    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://kiosk.local:3000"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://kiosk.local:3000"
    assert foreign.status == 403
    assert (await foreign.json())["error"]["code"] == "ORIGIN_NOT_ALLOWED"

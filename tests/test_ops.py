"""Operations: /metrics, /openapi.json, /status, JSON logs with request ids and redaction,
the access token, CORS, and encryption of queued payloads at rest."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from sidecar.app import create_app
from sidecar.config import load_config
from sidecar.credentials import Secrets, load_secrets
from sidecar.errors import ConfigError, StorageError
from sidecar.logs import JsonFormatter
from sidecar.simulator import SimulatorServer
from sidecar.store.database import DB_NAME
from sidecar.web.openapi import build_openapi
from tests.conftest import API_KEY, SECRET_KEY, STORE_ENV, MakeConfig, MakeSidecar

Client = TestClient[Any, Any]
KEY = base64.b64encode(bytes(range(32))).decode()


async def checkout(client: Client, *, email: str = "", mobile: str = "") -> dict[str, Any]:
    await client.post("/v1/estimate-points", json={"customerId": "cust-1001", "totalPaid": 20})
    hold = await (
        await client.post(
            "/v1/hold-and-redeem",
            json={
                "customerId": "cust-1001",
                "checkoutId": "ops-1",
                "points": 10,
                "otp": "493817",
                "ignoreOTP": True,
            },
        )
    ).json()
    paid = await client.post(
        "/v1/finalize-payment",
        json={
            "customerId": "cust-1001",
            "paymentId": "ops-pay-1",
            "totalPaid": 20,
            "redemption": {"pointsHoldReference": hold["holdReference"]},
            **({"email": email} if email else {}),
            **({"mobile": mobile} if mobile else {}),
        },
    )
    return await paid.json()  # type: ignore[no-any-return]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


async def test_metrics_after_a_checkout(sidecar: Client) -> None:
    await checkout(sidecar)

    response = await sidecar.get("/metrics")

    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    found = samples(text)
    finalize = frozenset({("route", "/v1/finalize-payment"), ("method", "POST"), ("status", "200")})
    assert found[("sidecar_http_request_duration_seconds_count", finalize)] == 1
    delivered = frozenset({("kind", "payment"), ("result", "delivered")})
    assert found[("sidecar_outbox_deliveries_total", delivered)] == 1
    payments = frozenset(
        {("endpoint", "/integrations/payments"), ("method", "POST"), ("outcome", "ok")}
    )
    assert found[("sidecar_upstream_request_duration_seconds_count", payments)] == 1
    assert found[("sidecar_outbox_queued_items", frozenset())] == 0
    assert found[("sidecar_gameball_online", frozenset())] == 1
    assert found[("sidecar_gameball_credentials_alarm", frozenset())] == 0
    assert "cust-1001" not in text  # no customer ids in labels


async def test_metrics_queue_gauges_when_offline(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-1", "paymentId": "m-1", "totalPaid": 3}
    )

    found = samples(await (await sidecar.get("/metrics")).text())

    assert found[("sidecar_outbox_queued_items", frozenset())] == 1
    assert found[("sidecar_outbox_oldest_queued_age_seconds", frozenset())] >= 0


async def test_openapi_is_valid_and_matches_the_routes(sidecar: Client) -> None:
    document = await (await sidecar.get("/openapi.json")).json()

    validate(document)
    assert sidecar.app is not None
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in sidecar.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert routes == documented
    assert document == build_openapi()


async def test_status_page_is_self_contained_html(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-1", "paymentId": "s-1", "totalPaid": 3}
    )

    response = await sidecar.get("/status")

    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<meta http-equiv="refresh"' in html
    assert "Sales waiting to send" in html and "Acme Coffee" in html
    assert "src=" not in html and "href=" not in html  # no external assets at all
    assert API_KEY not in html and SECRET_KEY not in html


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_logs_are_json_with_request_ids_and_leak_nothing(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, log_lines: io.StringIO
) -> None:
    sidecar = await make_sidecar()
    await checkout(sidecar, email="jane.doe@example.com", mobile="+201001234567")
    await sidecar.get("/v1/nope", headers={"X-Request-Id": "till-req-77"})
    simulator.sim.set_fault("gameball_error", status=401, code=1000)
    await sidecar.get("/v1/customers/jane.doe@example.com/balance")

    text = log_lines.getvalue()

    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e.get("requestId") == "till-req-77" and e.get("status") == 404 for e in entries)
    for secret in (API_KEY, SECRET_KEY, "jane.doe@example.com", "+201001234567", "493817"):
        assert secret not in text, secret


async def test_non_loopback_bind_needs_a_token() -> None:
    config = load_config(None, {**STORE_ENV, "SIDECAR_HOST": "0.0.0.0"})

    with pytest.raises(ConfigError) as caught:
        load_secrets(config, {})
    allowed = load_secrets(config, {"SIDECAR_ACCESS_TOKEN": "t" * 24})

    assert "$.sidecar.host" in str(caught.value) and "access token" in str(caught.value)
    assert allowed.access_token == "t" * 24


async def test_token_required_on_every_route_but_health(
    aiohttp_client: Any, make_config: MakeConfig
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


async def test_encrypted_outbox_round_trip(
    aiohttp_client: Any, make_config: MakeConfig, simulator: SimulatorServer, data_dir: Path
) -> None:
    config = make_config()
    keyed = Secrets(API_KEY, SECRET_KEY, encryption_key=base64.b64decode(KEY))
    first = await aiohttp_client(create_app(config, keyed))
    await simulator.set_down(True)
    queued = await first.post(
        "/v1/finalize-payment",
        json={
            "customerId": "c-enc",
            "paymentId": "enc-1",
            "totalPaid": 9,
            "email": "secret.shopper@example.com",
        },
    )
    await first.close()
    raw = read_database_files(data_dir)

    runner = web.AppRunner(create_app(config, Secrets(API_KEY, SECRET_KEY)))
    with pytest.raises(StorageError) as refused:
        await runner.setup()
    await runner.cleanup()
    await simulator.set_down(False)
    second = await aiohttp_client(create_app(config, keyed))
    for _ in range(200):
        status = await (await second.get("/v1/status")).json()
        if status["outbox"]["queued"] == 0:
            break
        await asyncio.sleep(0.05)

    assert queued.status == 202
    assert b"secret.shopper@example.com" not in raw and b"totalPaid" not in raw
    assert "encrypted" in str(refused.value) and "no encryption key" in str(refused.value)
    ledger = [e["transactionId"] for e in simulator.sim.ledger("c-enc")]
    assert ledger == ["enc-1"]


def read_database_files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith(DB_NAME))


def test_encryption_key_must_be_32_bytes() -> None:
    config = load_config(None, STORE_ENV)

    with pytest.raises(ConfigError) as caught:
        load_secrets(config, {"SIDECAR_ENCRYPTION_KEY": "c2hvcnQ="})

    assert "32 random bytes" in str(caught.value)
    assert os.environ.get("SIDECAR_ENCRYPTION_KEY") is None

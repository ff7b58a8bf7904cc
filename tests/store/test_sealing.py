"""Queued payloads sealed at rest: unreadable in the files, and the sidecar refuses to start
without the key they were sealed with."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from sidecar.app import create_app
from sidecar.credentials import Secrets
from sidecar.errors import StorageError
from sidecar.simulator import SimulatorServer
from sidecar.store.database import DB_NAME
from tests.support.clients import API_KEY, SECRET_KEY
from tests.support.fixtures import MakeConfig
from tests.support.waits import wait_drained

KEY = base64.b64encode(bytes(range(32))).decode()


async def test_encrypted_outbox_round_trip(
    aiohttp_client: AiohttpClient,
    make_config: MakeConfig,
    simulator: SimulatorServer,
    data_dir: Path,
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
    await wait_drained(second)

    assert queued.status == 202
    assert b"secret.shopper@example.com" not in raw and b"totalPaid" not in raw
    assert "encrypted" in str(refused.value) and "no encryption key" in str(refused.value)
    ledger = [e["transactionId"] for e in simulator.sim.ledger("c-enc")]
    assert ledger == ["enc-1"]


def read_database_files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith(DB_NAME))

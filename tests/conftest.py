"""Shared fixtures: the Gameball simulator on a real socket, and the real sidecar app (on a real
socket too, through aiohttp's test server) pointed at it with a real SQLite file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.clocks import REAL, Clocks
from sidecar.config import Config, load_config
from sidecar.credentials import Secrets
from sidecar.simulator import SimulatorServer
from tests.support.processes import STORE_ENV

pytest_plugins = ["tests.simulator_fixtures", "pytester"]

API_KEY = "test-api-key-0001"
SECRET_KEY = "test-secret-key-0002"
SECRETS = Secrets(API_KEY, SECRET_KEY)

MakeConfig = Callable[..., Config]
MakeSidecar = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_config(simulator: SimulatorServer, data_dir: Path) -> MakeConfig:
    """Config for a sidecar on this test's simulator; keyword overrides are environment names."""

    def make(**env: str) -> Config:
        return load_config(
            None,
            {
                **STORE_ENV,
                "GAMEBALL_BASE_URL": simulator.base_url,
                "SIDECAR_DATA_DIR": str(data_dir),
                "SIDECAR_CONNECTIVITY_PROBE_INITIAL": "0.2",
                **env,
            },
        )

    return make


@pytest.fixture
def make_sidecar(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], make_config: MakeConfig
) -> MakeSidecar:
    async def make(
        config: Config | None = None, *, clocks: Clocks | None = None
    ) -> TestClient[Any, Any]:
        app: web.Application = create_app(config or make_config(), SECRETS, clocks=clocks or REAL)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def sidecar(make_sidecar: MakeSidecar) -> TestClient[Any, Any]:
    return await make_sidecar()


async def wait_until(
    predicate: Callable[[], Any], *, within: float = 5.0, interval: float = 0.02
) -> None:
    """Poll a condition instead of guessing a sleep; fail loudly when it never holds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def assert_error_shape(body: Any, code: str) -> None:
    """The one error shape: {"error": {code, message, retryable, ...}}."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    assert isinstance(error["retryable"], bool)
    assert set(error) <= {"code", "message", "retryable", "upstreamCode", "details"}

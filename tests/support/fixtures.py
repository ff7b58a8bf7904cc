"""The fixtures (``tests/conftest.py`` registers this module): the Gameball simulator on a real
socket, a client for it, the real sidecar app (through aiohttp's test server, on a real socket
too) pointed at it with a real SQLite file, and the real database for component tests.

A test whose requests to the simulator break Gameball's spec fails at teardown, unless it is
marked ``spec_violations_expected`` because it sends such requests on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from sidecar.app import create_app
from sidecar.clocks import REAL, Clocks
from sidecar.config import Config, load_config
from sidecar.credentials import Secrets
from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.contract import SpecViolation
from sidecar.store.database import Database
from sidecar.store.outbox import Outbox

from .clients import API_KEY, SECRET_KEY, Client, GameballClient
from .clocks import FakeTime
from .processes import STORE_ENV

EXPECTED_MARKER = "spec_violations_expected"
SECRETS = Secrets(API_KEY, SECRET_KEY)

MakeConfig = Callable[..., Config]
MakeSidecar = Callable[..., Awaitable[Client]]
MakeClient = Callable[..., Awaitable[Client]]


def spec_violation_report(violations: Sequence[SpecViolation]) -> str:
    lines = [f"{len(violations)} request(s) to Gameball broke its published spec:"]
    for violation in violations:
        lines.append(f"  {violation.describe()}")
        lines.append(f"    body: {msgspec.json.encode(violation.body).decode()[:2000]}")
    return "\n".join(lines)


def check_no_spec_violations(server: SimulatorServer) -> None:
    """Fail the test when anything it sent the simulator was outside Gameball's spec."""
    found = server.sim.spec_violations
    if found:
        pytest.fail(spec_violation_report(found), pytrace=False)


@pytest.fixture
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[SimulatorServer]:
    """A started simulator (demo customers seeded, rate limits off); `.sim` is the Simulator."""
    server = SimulatorServer(Simulator(seed_demo=True, rate_limits_enabled=False))
    await server.start(host="127.0.0.1", port=0, control_port=0)
    try:
        yield server
    finally:
        await server.stop()
    if request.node.get_closest_marker(EXPECTED_MARKER) is None:
        check_no_spec_violations(server)


@pytest.fixture
async def simulator_client(simulator: SimulatorServer) -> AsyncIterator[GameballClient]:
    async with aiohttp.ClientSession() as session:
        yield GameballClient(session, simulator)


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
                # Replay at once after a reconnect; the jitter has its own tests on fake time.
                "SIDECAR_PACING_RECONNECT_JITTER_SECONDS": "0",
                **env,
            },
        )

    return make


@pytest.fixture
def make_sidecar(aiohttp_client: AiohttpClient, make_config: MakeConfig) -> MakeSidecar:
    async def make(config: Config | None = None, *, clocks: Clocks | None = None) -> Client:
        app: web.Application = create_app(config or make_config(), SECRETS, clocks=clocks or REAL)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def sidecar(make_sidecar: MakeSidecar) -> TestClient[Any, Any]:
    return await make_sidecar()


@pytest.fixture
def fake_time() -> FakeTime:
    """Time that moves only when the test (or a fake sleep) moves it."""
    return FakeTime()


@pytest.fixture
async def database(data_dir: Path) -> AsyncIterator[Database]:
    """The real SQLite database, migrated, in this test's own directory."""
    opened = await Database.open(data_dir)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def outbox(database: Database) -> Outbox:
    return Outbox(database)

"""Pytest fixtures: the Gameball simulator on real sockets, and a small client for it. A test
whose requests to the simulator break Gameball's spec fails at teardown, unless it is marked
`spec_violations_expected` because it sends such requests on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import msgspec
import pytest

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.contract import SpecViolation

API_KEY = "test-api-key"
SECRET_KEY = "test-secret-key"
EXPECTED_MARKER = "spec_violations_expected"


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

"""Helpers for the retail and hostile tests: one call to the sidecar, what reached Gameball."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from sidecar.simulator import SimulatorServer

Client = TestClient[Any, Any]


async def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await client.request(method, path, json=body)
    return response.status, await response.json()


def ledger(simulator: SimulatorServer, customer: str) -> list[dict[str, Any]]:
    return simulator.sim.ledger(customer)


def sent(simulator: SimulatorServer, suffix: str) -> list[dict[str, Any]]:
    return [r["json"] for r in simulator.sim.requests if r["path"].endswith(suffix)]

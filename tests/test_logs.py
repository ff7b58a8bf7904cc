"""JSON logs: one object a line, with request ids, and no secret or contact data in any."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sidecar.logs import JsonFormatter
from sidecar.simulator import SimulatorServer
from tests.support.clients import API_KEY, SECRET_KEY, checkout
from tests.support.fixtures import MakeSidecar


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

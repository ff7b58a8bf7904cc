"""Small pieces the chaos suites share: one call to the sidecar with its answer kept, the outbox
read page by page, the simulator's ledger counted, the requests it found outside Gameball's
spec, bounded waits, the sidecar log's errors, and one figures line."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from sidecar.simulator import SimulatorServer

OK_SALE = (200, 202)


@dataclass(frozen=True)
class Answer:
    """What the till saw: HTTP status (0 when no answer came at all), error code, body, time."""

    status: int
    code: str | None
    body: dict[str, Any]
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    within: float = 15.0,
) -> Answer:
    """One request; transport failures become an Answer with status 0 so callers count them."""
    started = time.monotonic()
    try:
        async with session.request(
            method, url, json=body, timeout=aiohttp.ClientTimeout(total=within)
        ) as response:
            raw = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Answer(0, type(exc).__name__, {}, time.monotonic() - started)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"text": raw[:200].decode(errors="replace")}
    document: dict[str, Any] = parsed if isinstance(parsed, dict) else {"value": parsed}
    error = document.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return Answer(status, code, document, time.monotonic() - started)


async def outbox_items(session: aiohttp.ClientSession, base_url: str) -> list[dict[str, Any]]:
    """Every outbox row, through GET /v1/outbox pages (afterId)."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        answer = await call(session, "GET", f"{base_url}/v1/outbox?limit=1000&afterId={after}")
        if answer.status != 200:
            raise RuntimeError(f"GET /v1/outbox answered {answer.status} {answer.code}")
        page: list[dict[str, Any]] = answer.body["items"]
        if not page:
            return items
        items.extend(page)
        after = int(page[-1]["id"])


def ledger_counts(simulator: SimulatorServer, entry_type: str) -> Counter[str]:
    """How many ledger rows of one type each transaction id has at the simulator."""
    return Counter(
        str(row["transactionId"]) for row in simulator.sim.ledger() if row["type"] == entry_type
    )


def spec_violations(label: str, *simulators: SimulatorServer) -> int:
    """How many requests the sidecar sent outside Gameball's published spec (the simulator
    refused and kept each); the first few are printed, so a failed suite says which."""
    found = [violation for simulator in simulators for violation in simulator.sim.spec_violations]
    for violation in found[:5]:
        print(f"{label}:   outside the spec: {violation.describe()}", flush=True)
    return len(found)


@dataclass
class Delivery:
    """Acknowledged ids checked against the ledger: each must be there exactly once."""

    acknowledged: int = 0
    delivered: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)


def exactly_once(acknowledged: Iterable[str], counts: Counter[str]) -> Delivery:
    result = Delivery()
    for key in acknowledged:
        result.acknowledged += 1
        seen = counts.get(key, 0)
        if seen == 0:
            result.lost.append(key)
        else:
            result.delivered += 1
            if seen > 1:
                result.duplicated.append(key)
    return result


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, within: float, interval: float = 0.2
) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return await predicate()


def log_problems(log_path: Path, limit: int = 5) -> tuple[int, list[str]]:
    """Error and critical lines in the sidecar's JSON log: how many, and the first few."""
    if not log_path.exists():
        return 0, []
    found: list[str] = []
    count = 0
    for line in log_path.read_text(errors="replace").splitlines():
        if '"level":"error"' in line or '"level":"critical"' in line or "Traceback" in line:
            count += 1
            if len(found) < limit:
                found.append(line[:300])
    return count, found


def figures(name: str, values: dict[str, object]) -> str:
    return f"{name}: " + " ".join(f"{key}={value}" for key, value in values.items())

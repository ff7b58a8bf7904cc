"""Bounded waits: poll the condition a test is really waiting for, and fail loudly, saying what
was awaited, when it does not hold in time. Never a guessed sleep."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient


async def _value(probe: Callable[[], object]) -> object:
    outcome = probe()
    if inspect.isawaitable(outcome):
        return await outcome
    return outcome


async def wait_until(
    predicate: Callable[[], object],
    *,
    within: float = 5.0,
    interval: float = 0.02,
    describe: Callable[[], object] | None = None,
) -> None:
    """Poll ``predicate`` (a plain or an async function) until it returns something true.
    ``describe`` (plain or async too) says what was seen instead, for the failure message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await _value(predicate):
        if loop.time() > deadline:
            seen = f": {await _value(describe)}" if describe is not None else ""
            raise AssertionError(f"condition not met within {within}s{seen}")
        await asyncio.sleep(interval)


async def wait_drained(client: TestClient[Any, Any], within: float = 15.0) -> None:
    """Until the sidecar's outbox has nothing queued (everything delivered or dead)."""

    async def outbox() -> dict[str, Any]:
        report = await (await client.get("/v1/status")).json()
        assert isinstance(report, dict), report
        queue = report["outbox"]
        assert isinstance(queue, dict), report
        return queue

    async def drained() -> bool:
        return bool((await outbox())["queued"] == 0)

    await wait_until(drained, within=within, interval=0.05, describe=outbox)

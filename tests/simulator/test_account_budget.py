"""The simulator's rate limit is the account's, as Gameball's is: every caller of one
simulator draws on the same windows, whatever its connection or its key (a simulator is one
merchant account; the fleet harness runs all its stores against one)."""

from __future__ import annotations

import aiohttp

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.clients import GameballClient
from tests.support.gameball import payment


async def test_rate_limit_is_shared_by_every_connection_and_key() -> None:
    sim = Simulator(rate_limit_per_second=2, rate_limit_per_30s=10, timer=lambda: 0.0)
    server = SimulatorServer(sim)
    await server.start()
    try:
        # Two stores: separate connection pools, separate keys.
        async with aiohttp.ClientSession() as one, aiohttp.ClientSession() as other:
            first, second = GameballClient(one, server), GameballClient(other, server)
            second.headers = {"APIKey": "another-store-key", "SecretKey": "another-secret"}
            statuses = [
                (await first.post("/integrations/payments", payment("cust-1001", "ab-1", 1)))[0],
                (await second.post("/integrations/payments", payment("cust-2002", "ab-2", 1)))[0],
                (await second.post("/integrations/payments", payment("cust-2002", "ab-3", 1)))[0],
                (await first.post("/integrations/payments", payment("cust-1001", "ab-4", 1)))[0],
            ]
    finally:
        await server.stop()

    assert statuses == [200, 200, 429, 429]

"""The soak's Gameball: up, down, a short black hole, slow, connection resets and an HTML 503 page
in turn, each for a whole period, and up for good at the end."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from sidecar.simulator import SimulatorServer

FAULTS = ("down", "blackhole", "slow", "reset", "html503", "up")


async def flapper(
    server: SimulatorServer,
    rng: random.Random,
    stop_at: float,
    spacing: tuple[float, float],
    modes: Counter[str],
) -> None:
    """Up first, then every ``spacing`` seconds a different Gameball (faults cleared between),
    each for a whole period; back up for good at ``stop_at``."""
    order: list[str] = []
    current = "up"
    try:
        await asyncio.sleep(rng.uniform(*spacing))
        while time.monotonic() + spacing[0] < stop_at:
            if not order:
                order = rng.sample(FAULTS, len(FAULTS))
                if order[0] == current:
                    order.append(order.pop(0))
            current = order.pop(0)
            period = min(rng.uniform(*spacing), stop_at - time.monotonic())
            await server.set_down(False)
            server.sim.clear_faults()
            modes[current] += 1
            if current == "down":
                await server.set_down(True)
            elif current == "blackhole":
                # A short one: held calls are let go when it clears, then Gameball is up.
                server.sim.set_fault("blackhole")
                short = rng.uniform(3, 8)
                await asyncio.sleep(short)
                server.sim.clear_faults()
                period -= short
            elif current == "slow":
                server.sim.set_fault("slow", delay_seconds=round(rng.uniform(1, 4), 1))
            elif current != "up":
                server.sim.set_fault(current)
            await asyncio.sleep(max(0.0, period))
    finally:
        await server.set_down(False)
        server.sim.clear_faults()

"""The sidecar's memory and open files over the soak, sampled every few seconds."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psutil

SAMPLE_EVERY = 5.0


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int


def sample(process: psutil.Process, started: float) -> Sample:
    rss = process.memory_info().rss / (1024 * 1024)
    return Sample(time.monotonic() - started, rss, process.num_fds())


async def monitor(process: psutil.Process, started: float, samples: list[Sample]) -> None:
    while True:
        samples.append(sample(process, started))
        await asyncio.sleep(SAMPLE_EVERY)

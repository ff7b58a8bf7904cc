"""What the fleet costs the machine: each process's peak resident memory and the CPU the whole
machine was busy, sampled every few seconds while a mode runs."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import psutil

SAMPLE_EVERY = 2.0
MB = 1024 * 1024


@dataclass
class Usage:
    """Peak RSS (MB) by role (``sidecar`` is per process), and machine CPU busy (%)."""

    sidecar_peak: dict[int, float] = field(default_factory=dict)
    simulator_peak: float = 0.0
    redis_peak: float = 0.0
    harness_peak: float = 0.0
    cpu: list[float] = field(default_factory=list)

    def line(self) -> str:
        peaks = list(self.sidecar_peak.values()) or [0.0]
        busy = sum(self.cpu) / len(self.cpu) if self.cpu else 0.0
        return (
            f"sidecar_rss_mb_max={max(peaks):.1f} sidecar_rss_mb_mean={sum(peaks) / len(peaks):.1f}"
            f" sidecars_rss_mb_sum={sum(peaks):.0f} simulator_rss_mb={self.simulator_peak:.1f}"
            f" redis_rss_mb={self.redis_peak:.1f} harness_rss_mb={self.harness_peak:.1f}"
            f" cpu_busy_pct_mean={busy:.0f} cpu_busy_pct_max={max(self.cpu, default=0.0):.0f}"
            f" cores={psutil.cpu_count()}"
        )


def _rss(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        return float(psutil.Process(pid).memory_info().rss) / MB
    except psutil.Error:
        return 0.0


def sample(usage: Usage, *, sidecars: list[int], simulator: int | None, redis: int | None) -> None:
    for pid in sidecars:
        usage.sidecar_peak[pid] = max(usage.sidecar_peak.get(pid, 0.0), _rss(pid))
    usage.simulator_peak = max(usage.simulator_peak, _rss(simulator))
    usage.redis_peak = max(usage.redis_peak, _rss(redis))
    usage.harness_peak = max(usage.harness_peak, _rss(os.getpid()))


async def monitor(
    usage: Usage, *, sidecars: list[int], simulator: int | None, redis: int | None
) -> None:
    """Sample until cancelled; the first CPU reading only starts psutil's interval."""
    psutil.cpu_percent(interval=None)
    while True:
        await asyncio.sleep(SAMPLE_EVERY)
        sample(usage, sidecars=sidecars, simulator=simulator, redis=redis)
        usage.cpu.append(psutil.cpu_percent(interval=None))

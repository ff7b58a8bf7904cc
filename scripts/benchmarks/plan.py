"""What a benchmark run measures and against what: the quick and full sizes, the targets each
phase is held to, and the settings every phase's sidecar shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "bench"
KEYS = {"APIKey": "bench-api-key", "SecretKey": "bench-secret-key"}
JSON = {"Content-Type": "application/json"}
# Offline limits out of the way: the point is the commit path, not the refusal.
NO_LIMITS = {
    "SIDECAR_LIMITS_MAX_QUEUED_COUNT": "1000000",
    "SIDECAR_LIMITS_MAX_QUEUED_AMOUNT": "1e12",
    "SIDECAR_OUTBOX_CONCURRENCY": "8",
}
PER_SECOND, PER_30S = 30, 360
TARGET_RATIO, TARGET_FINALIZE_RATE, TARGET_FINALIZE_P99 = 1.5, 2000, 20.0
TARGET_DRAIN, TARGET_RSS, TARGET_READY = 500, 60.0, 1.0
TARGET_LIVE_RATIO = 1.2  # p95 of an online finalize while a backlog drains / when idle


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: int  # each latency/throughput measurement (wrk takes whole seconds)
    warmup: int
    starts: int  # sidecar starts timed to READY
    drain: int  # payments queued offline, then drained with pacing off
    paced: int  # payments drained with pacing on
    profile_seconds: int
    rounds: int  # of the estimate measurements, interleaved
    finalize_seconds: int  # each finalize measurement, and the raw SQLite one
    concurrency: tuple[int, ...] = (1, 16)
    live_backlog: int = 5000  # payments queued offline, draining while live sales are timed
    live_seconds: int = 60  # each live-first measurement: idle, then while draining


QUICK = Plan(
    "quick",
    seconds=2,
    warmup=1,
    starts=3,
    drain=1000,
    paced=200,
    profile_seconds=3,
    rounds=1,
    finalize_seconds=2,
    live_backlog=1000,
    live_seconds=10,
)
FULL = Plan(
    "full",
    seconds=5,
    warmup=2,
    starts=5,
    drain=10_000,
    paced=1000,
    profile_seconds=8,
    rounds=3,
    finalize_seconds=10,
)

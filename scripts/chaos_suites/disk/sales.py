"""What the disk scenarios share: the sales one scenario sends and how each was answered,
checked against the outbox (no false ack, nothing refused stored), and the sidecar and
simulators they run against."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from scripts.chaos_suites.common import Answer, call, outbox_items, wait_until
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

MIB = 1024 * 1024
# Generous offline limits: this suite is about the disk, not OFFLINE_QUEUE_FULL.
ROOMY_LIMITS = {
    "SIDECAR_LIMITS_MAX_QUEUED_COUNT": "1000000",
    "SIDECAR_LIMITS_MAX_QUEUED_AMOUNT": "1e9",
    "SIDECAR_PACING_ENABLED": "false",
}


@dataclass
class Sales:
    """Every finalize sent in one scenario and how it was answered."""

    prefix: str
    rng: random.Random
    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    other: Counter[str] = field(default_factory=Counter)
    refusal_message: str = ""

    async def send(self, session: aiohttp.ClientSession, url: str, extra_bytes: int = 0) -> Answer:
        payment_id = f"{self.prefix}-{self.sent:05d}"
        body: dict[str, Any] = {
            "customerId": f"{self.prefix}-c{self.sent % 10}",
            "paymentId": payment_id,
            "totalPaid": 10,
        }
        if extra_bytes:
            # Random hex: nothing on the way can shrink it.
            body["extra"] = {"receipt": self.rng.randbytes(extra_bytes // 2).hex()}
        self.sent += 1
        answer = await call(session, "POST", f"{url}/v1/finalize-payment", body)
        if answer.ok:
            self.acknowledged.add(payment_id)
        elif answer.status == 503 and answer.code == "STORAGE_UNAVAILABLE":
            self.refused.add(payment_id)
            self.refusal_message = self.refusal_message or str(answer.body["error"]["message"])
        else:
            self.other[f"{answer.status} {answer.code}"] += 1
        return answer

    def big(self) -> int:
        return self.rng.randint(20_000, 50_000)


@dataclass
class Check:
    """acknowledged but not stored (false acks), and refused but stored after all."""

    false_acks: set[str]
    refused_stored: set[str]
    stored: int

    @property
    def ok(self) -> bool:
        return not self.false_acks and not self.refused_stored


async def check_outbox(session: aiohttp.ClientSession, url: str, sales: Sales) -> Check:
    stored = {
        str(item["paymentId"])
        for item in await outbox_items(session, url)
        if item["kind"] == "payment" and str(item["paymentId"]).startswith(sales.prefix + "-")
    }
    return Check(sales.acknowledged - stored, sales.refused & stored, len(stored))


class Simulators:
    """Every simulator the scenarios start, so what each was sent can be checked afterwards."""

    def __init__(self) -> None:
        self.started: list[SimulatorServer] = []

    def new(self) -> SimulatorServer:
        simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
        self.started.append(simulator)
        return simulator


def new_sidecar(
    simulator: SimulatorServer, data_dir: Path, log: Path, **env: str
) -> SidecarProcess:
    return SidecarProcess(
        base_url=simulator.base_url, data_dir=data_dir, log_path=log, **ROOMY_LIMITS, **env
    )


async def fill_until_refused(
    session: aiohttp.ClientSession, url: str, sales: Sales, *, after: int, cap: int
) -> int | None:
    """Big sales until the first STORAGE_UNAVAILABLE, then ``after`` more (every third one
    small, to see whether a small sale still fits). Returns the index of the first refusal."""
    first: int | None = None
    while sales.sent < cap:
        if first is not None and sales.sent - first >= after:
            break
        small = first is not None and sales.sent % 3 == 0
        answer = await sales.send(session, url, 0 if small else sales.big())
        if first is None and answer.code == "STORAGE_UNAVAILABLE":
            first = sales.sent - 1
    return first


async def drained(session: aiohttp.ClientSession, sidecar: SidecarProcess, within: float) -> bool:
    async def empty() -> bool:
        return int((await sidecar.status(session))["outbox"]["queued"]) == 0

    return await wait_until(empty, within=within, interval=0.5)


async def open_rows(session: aiohttp.ClientSession, url: str) -> str:
    """The rows still waiting, by state, e.g. "inflight=1 pending=3"."""
    states = Counter(
        str(item["state"])
        for item in await outbox_items(session, url)
        if item["state"] in ("pending", "inflight")
    )
    return " ".join(f"{k}={v}" for k, v in sorted(states.items())) or "none"

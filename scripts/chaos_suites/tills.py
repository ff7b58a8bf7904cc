"""Simulated tills for the chaos suites: each sells to one customer in order (sometimes with a
held redemption, sometimes refunding), retries a call until it gets an answer, as a POS does,
and remembers what the sidecar acknowledged so the simulator's ledger can be checked."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess


@dataclass
class Record:
    """What the tills were told, to compare with what Gameball received."""

    payments: dict[str, list[str]] = field(default_factory=dict)  # customer -> acked, in order
    refunds: dict[str, str] = field(default_factory=dict)  # refundId -> paymentId
    holds_used: int = 0
    calls: int = 0
    interrupted: int = 0
    longest_wait: float = 0.0
    unexpected: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(len(p) for p in self.payments.values()) + len(self.refunds)


class Till:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        customer: str,
        record: Record,
        *,
        sales: int,
        think: tuple[float, float],
        rng: random.Random,
    ) -> None:
        self._session = session
        self._url = base_url
        self._customer = customer
        self._record = record
        self._sales = sales
        self._think = think
        self._rng = rng
        record.payments.setdefault(customer, [])

    async def run(self) -> None:
        for n in range(self._sales):
            payment_id = f"{self._customer}-p{n:03d}"
            body: dict[str, Any] = {
                "customerId": self._customer,
                "paymentId": payment_id,
                "totalPaid": 5 + n % 20,
            }
            if n % 5 == 1:
                reference = await self._hold(f"{self._customer}-co{n:03d}")
                if reference is not None:
                    body["redemption"] = {"pointsHoldReference": reference}
            status, _ = await self.call("POST", "/v1/finalize-payment", body)
            if status in (200, 202):
                self._record.payments[self._customer].append(payment_id)
                self._record.holds_used += "redemption" in body
            if n % 7 == 3 and status in (200, 202):
                refund_id = f"{payment_id}-r"
                refund = {"paymentId": payment_id, "refundId": refund_id, "amount": 2}
                status, _ = await self.call("POST", "/v1/refund", refund)
                if status in (200, 202):
                    self._record.refunds[refund_id] = payment_id
            await asyncio.sleep(self._rng.uniform(*self._think))

    async def _hold(self, checkout_id: str) -> str | None:
        body = {"customerId": self._customer, "checkoutId": checkout_id, "points": 5}
        status, answer = await self.call("POST", "/v1/hold-and-redeem", body)
        return answer.get("holdReference") if status == 200 else None

    async def call(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Retry until the sidecar answers (it may be down); then return what it said."""
        while True:
            started = time.monotonic()
            try:
                async with self._session.request(
                    method, self._url + path, json=body, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    answer = await response.json()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                self._record.interrupted += 1
                await asyncio.sleep(0.1)
                continue
            waited = time.monotonic() - started
            self._record.calls += 1
            self._record.longest_wait = max(self._record.longest_wait, waited)
            if status >= 500 and status != 503:
                self._record.unexpected.append(f"{method} {path} -> {status} {answer}")
            if status == 503 and path != "/v1/hold-and-redeem":
                # A refusal that says nothing was stored: a POS would try again shortly.
                await asyncio.sleep(0.2)
                continue
            return status, answer


async def seeded_simulator(prefix: str, customers: int) -> SimulatorServer:
    """The simulator with these customers holding points to redeem, rate limits off (the
    sidecar's pacing is not what these suites measure)."""
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await simulator.start()
    for n in range(customers):
        simulator.sim.seed_customer(f"{prefix}-{n:03d}", points=10_000)
    return simulator


def sidecar_in(tmp: str, simulator: SimulatorServer, **env: str) -> SidecarProcess:
    """A quiet sidecar process with its database and log in ``tmp``, pointed at the simulator."""
    return SidecarProcess(
        base_url=simulator.base_url,
        data_dir=Path(tmp) / "data",
        log_path=Path(tmp) / "sidecar.log",
        SIDECAR_SIDECAR_LOG_LEVEL="WARNING",
        **env,
    )


def start_tills(
    session: aiohttp.ClientSession,
    url: str,
    prefix: str,
    customers: int,
    record: Record,
    *,
    sales: int,
    think: tuple[float, float],
    rng: random.Random,
) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(
            Till(
                session,
                url,
                f"{prefix}-{n:03d}",
                record,
                sales=sales,
                think=think,
                rng=random.Random(rng.random()),
            ).run()
        )
        for n in range(customers)
    ]


def check_ledger(simulator: SimulatorServer, record: Record) -> dict[str, int]:
    """Every acknowledged payment and refund reached Gameball exactly once, in order."""
    ledger = simulator.sim.ledger()
    paid = Counter(e["transactionId"] for e in ledger if e["type"] == "PaymentReward")
    refund_rows = Counter(
        (e["transactionId"], e["type"]) for e in ledger if e["transactionId"] in record.refunds
    )
    acked = {p for ps in record.payments.values() for p in ps}
    lost = len(acked - set(paid)) + len(set(record.refunds) - {r for r, _ in refund_rows})
    duplicated = sum(1 for n in paid.values() if n > 1) + sum(
        1 for n in refund_rows.values() if n > 1
    )
    position = {e["transactionId"]: i for i, e in reversed(list(enumerate(ledger)))}
    violations = 0
    for customer, payments in record.payments.items():
        seen = [
            e["transactionId"]
            for e in ledger
            if e["type"] == "PaymentReward" and e["customerId"] == customer
        ]
        violations += [p for p in seen if p in set(payments)] != payments
    for refund_id, payment_id in record.refunds.items():
        if refund_id in position and position[refund_id] < position.get(payment_id, 1 << 30):
            violations += 1
    return {
        "acknowledged": record.acknowledged,
        "delivered": len(acked & set(paid)) + len({r for r, _ in refund_rows}),
        "lost": lost,
        "duplicated": duplicated,
        "order_violations": violations,
    }

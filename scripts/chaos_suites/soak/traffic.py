"""The soak's tills: one sale every 1-2 s at a store's pace (estimate, sometimes a hold, finalize,
sometimes a refund or a balance), every answer tallied against what a valid request may get."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scripts.chaos_suites.common import Answer, call

# What a valid request may be answered with; (status, error code).
ALLOWED: dict[str, set[tuple[int, str | None]]] = {
    "estimate": {(200, None)},
    # Redemption cannot be checked offline: refused at once, retryable (README, "Offline").
    "hold": {(200, None), (503, "OFFLINE_REDEMPTION_UNAVAILABLE")},
    "finalize": {(200, None), (202, None)},
    "refund": {(200, None), (202, None)},
    "release": {(200, None), (202, None)},
    "balance": {(200, None)},
}


@dataclass
class Tally:
    sales: int = 0
    payments: set[str] = field(default_factory=set)
    refunds: set[str] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record(self, kind: str, answer: Answer) -> Answer:
        key = f"{kind} {answer.status}" + (f" {answer.code}" if answer.code else "")
        self.answers[key] += 1
        self.seconds[kind].append(answer.seconds)
        if (answer.status, None if answer.ok else answer.code) not in ALLOWED[kind]:
            self.error_count += 1
            if len(self.errors) < 8:
                error = answer.body.get("error")
                said = error.get("message", "") if isinstance(error, dict) else ""
                self.errors.append(f"{key} after {answer.seconds:.1f}s: {str(said)[:100]}")
        return answer

    def slowest(self, kind: str) -> str:
        values = sorted(self.seconds.get(kind, []))
        if not values:
            return "-"
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return f"{p99:.2f}/{values[-1]:.2f}"


async def till(
    number: int,
    session: aiohttp.ClientSession,
    url: str,
    customers: list[str],
    tally: Tally,
    rng: random.Random,
    deadline: float,
) -> None:
    """estimate -> sometimes hold -> finalize (often burning the hold, else releasing it) ->
    sometimes a refund; a balance lookup now and then; one sale every 1-2 s."""
    sale = 0
    while time.monotonic() < deadline:
        customer = rng.choice(customers)
        sale_id = f"soak-t{number}-{sale:05d}"
        sale += 1
        total = round(rng.uniform(5, 150), 2)
        lines = [{"serviceId": rng.choice(("latte", "bagel", "muffin")), "amount": total}]
        quote = {"customerId": customer, "totalPaid": total, "paymentDetails": lines}
        await post(session, url, tally, "estimate", "/v1/estimate-points", quote)
        reference: str | None = None
        if rng.random() < 0.3:
            hold = {
                "customerId": customer,
                "checkoutId": f"{sale_id}-co",
                "points": rng.randint(10, 50),
            }
            held = await post(session, url, tally, "hold", "/v1/hold-and-redeem", hold)
            if held.status == 200:
                reference = str(held.body["holdReference"])
        payment: dict[str, Any] = {
            "customerId": customer,
            "paymentId": sale_id,
            "totalPaid": total,
            "paymentDetails": lines,
        }
        burn = reference is not None and rng.random() < 0.8
        if burn:
            payment["redemption"] = {"pointsHoldReference": reference}
        paid = await post(session, url, tally, "finalize", "/v1/finalize-payment", payment)
        if paid.ok:
            tally.payments.add(sale_id)
        if reference is not None and not burn:
            answer = await call(session, "DELETE", f"{url}/v1/holds/{reference}")
            tally.record("release", answer)
        if paid.ok and rng.random() < 0.15:
            refund: dict[str, Any] = {"paymentId": sale_id, "refundId": f"{sale_id}-r"}
            if rng.random() < 0.5:
                refund["amount"] = round(total / 2, 2)
            if (await post(session, url, tally, "refund", "/v1/refund", refund)).ok:
                tally.refunds.add(f"{sale_id}-r")
        if rng.random() < 0.1:
            tally.record("balance", await call(session, "GET", balance_url(url, customer)))
        tally.sales += 1
        await asyncio.sleep(rng.uniform(1.0, 2.0))


async def post(
    session: aiohttp.ClientSession,
    url: str,
    tally: Tally,
    kind: str,
    path: str,
    body: dict[str, Any],
) -> Answer:
    return tally.record(kind, await call(session, "POST", f"{url}{path}", body))


def balance_url(url: str, customer: str) -> str:
    return f"{url}/v1/customers/{customer}/balance"

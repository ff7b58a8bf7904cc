"""Suite 7, soak: three tills sell at a store's pace for ten minutes (SOAK_SECONDS) while
Gameball flaps between up, down, a short black hole, slow, connection resets and an HTML 503
page. Valid requests get only the documented answers, the sidecar's memory and open files stay
flat after a warm-up, and after the end and a drain every acknowledged payment and refund has
reached Gameball exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
from chaos_common import (
    Answer,
    call,
    exactly_once,
    figures,
    ledger_counts,
    log_problems,
    spec_violations,
)

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

TILLS = 3
CUSTOMERS_PER_TILL = 8
SAMPLE_EVERY = 5.0
RSS_BOUND_MB = 25.0
FDS_BOUND = 20
FAULTS = ("down", "blackhole", "slow", "reset", "html503", "up")

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
        await _post(session, url, tally, "estimate", "/v1/estimate-points", quote)
        reference: str | None = None
        if rng.random() < 0.3:
            hold = {
                "customerId": customer,
                "checkoutId": f"{sale_id}-co",
                "points": rng.randint(10, 50),
            }
            held = await _post(session, url, tally, "hold", "/v1/hold-and-redeem", hold)
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
        paid = await _post(session, url, tally, "finalize", "/v1/finalize-payment", payment)
        if paid.ok:
            tally.payments.add(sale_id)
        if reference is not None and not burn:
            answer = await call(session, "DELETE", f"{url}/v1/holds/{reference}")
            tally.record("release", answer)
        if paid.ok and rng.random() < 0.15:
            refund: dict[str, Any] = {"paymentId": sale_id, "refundId": f"{sale_id}-r"}
            if rng.random() < 0.5:
                refund["amount"] = round(total / 2, 2)
            if (await _post(session, url, tally, "refund", "/v1/refund", refund)).ok:
                tally.refunds.add(f"{sale_id}-r")
        if rng.random() < 0.1:
            tally.record("balance", await call(session, "GET", _balance(url, customer)))
        tally.sales += 1
        await asyncio.sleep(rng.uniform(1.0, 2.0))


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    tally: Tally,
    kind: str,
    path: str,
    body: dict[str, Any],
) -> Answer:
    return tally.record(kind, await call(session, "POST", f"{url}{path}", body))


def _balance(url: str, customer: str) -> str:
    return f"{url}/v1/customers/{customer}/balance"


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


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int


def sample(process: Any, started: float) -> Sample:
    rss = float(process.memory_info().rss) / (1024 * 1024)
    return Sample(time.monotonic() - started, rss, int(process.num_fds()))


async def monitor(process: Any, started: float, samples: list[Sample]) -> None:
    while True:
        samples.append(sample(process, started))
        await asyncio.sleep(SAMPLE_EVERY)


async def run(seconds: float) -> bool:
    rng = random.Random(20261122)
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await simulator.start()
    pools = [[f"soak-{t}-{c:02d}" for c in range(CUSTOMERS_PER_TILL)] for t in range(TILLS)]
    for customer in (c for pool in pools for c in pool):
        simulator.sim.seed_customer(customer, points=100_000)
    work = Path(tempfile.mkdtemp(prefix="chaos-soak-"))
    log = work / "sidecar.log"
    sidecar = SidecarProcess(base_url=simulator.base_url, data_dir=work / "data", log_path=log)
    tally = Tally()
    modes: Counter[str] = Counter()
    samples: list[Sample] = []
    warmup = 60.0 if seconds >= 180 else seconds / 3
    spacing = (20.0, 40.0) if seconds >= 300 else (6.0, 12.0)
    ok = False
    try:
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            assert sidecar.process is not None
            process = psutil.Process(sidecar.process.pid)
            # Seen once while online, so a stale balance can be answered later.
            for customer in (c for pool in pools for c in pool):
                tally.record("balance", await call(session, "GET", _balance(sidecar.url, customer)))
            started = time.monotonic()
            deadline = started + seconds
            watcher = asyncio.create_task(monitor(process, started, samples))
            flaps = asyncio.create_task(
                flapper(simulator, random.Random(rng.random()), deadline - 10, spacing, modes)
            )
            tills = [
                till(
                    n, session, sidecar.url, pools[n], tally, random.Random(rng.random()), deadline
                )
                for n in range(TILLS)
            ]
            await asyncio.gather(*tills)
            await flaps
            elapsed = time.monotonic() - started
            await sidecar.wait_drained(session, within=300)
            await asyncio.sleep(SAMPLE_EVERY)  # let connections from the drain settle
            watcher.cancel()
            end = sample(process, started)
            status = await sidecar.status(session)
        payments = exactly_once(sorted(tally.payments), ledger_counts(simulator, "PaymentReward"))
        # A refund of a payment leaves one "Cancel" row (plus "Refund" when points come back).
        refunds = exactly_once(sorted(tally.refunds), ledger_counts(simulator, "Cancel"))
        unasked = set(ledger_counts(simulator, "PaymentReward")) - tally.payments
        baseline = next((s for s in samples if s.at >= warmup), samples[-1])
        rss_growth = end.rss_mb - baseline.rss_mb
        fds_growth = end.fds - baseline.fds
        after_warmup = [s for s in samples if s.at >= warmup] + [end]
        lost = len(payments.lost) + len(refunds.lost)
        duplicated = len(payments.duplicated) + len(refunds.duplicated)
        outside_spec = spec_violations("soak", simulator)
        ok = (
            tally.error_count == 0
            and lost == 0
            and duplicated == 0
            and not unasked
            and rss_growth < RSS_BOUND_MB
            and fds_growth < FDS_BOUND
            and outside_spec == 0
        )
        print(
            figures(
                "soak",
                {
                    "seconds": round(elapsed),
                    "sales": tally.sales,
                    "acknowledged": payments.acknowledged + refunds.acknowledged,
                    "delivered": payments.delivered + refunds.delivered,
                    "lost": lost,
                    "duplicated": duplicated,
                    "rss_start_mb": round(baseline.rss_mb, 1),
                    "rss_end_mb": round(end.rss_mb, 1),
                    "rss_peak_mb": round(max(s.rss_mb for s in [*samples, end]), 1),
                    "fds_start": baseline.fds,
                    "fds_end": end.fds,
                    "error_answers": tally.error_count,
                    "flaps": sum(modes.values()),
                    "spec_violations": outside_spec,
                },
            ),
            flush=True,
        )
        print(
            figures(
                "soak detail",
                {
                    "payments": f"{payments.delivered}/{payments.acknowledged}",
                    "refunds": f"{refunds.delivered}/{refunds.acknowledged}",
                    "delivered_unacknowledged": len(unasked),
                    "warmup_s": round(warmup),
                    "rss_first_mb": round(samples[0].rss_mb, 1),
                    "rss_growth_mb": f"{rss_growth:.1f}(bound<{RSS_BOUND_MB:g})",
                    "rss_peak_growth_mb": round(
                        max(s.rss_mb for s in after_warmup) - baseline.rss_mb, 1
                    ),
                    "fds_growth": f"{fds_growth}(bound<{FDS_BOUND})",
                    "fds_peak": max(s.fds for s in [*samples, end]),
                    "samples": len(samples) + 1,
                    "dead_letters": status["outbox"]["deadLetters"],
                    "redemption_failed": status["outbox"]["redemptionFailed"],
                    "log_errors": log_problems(log)[0],
                    "p99/max_s": ",".join(
                        f"{k}={tally.slowest(k)}" for k in ("estimate", "hold", "finalize")
                    ),
                    "modes": ",".join(f"{k}:{v}" for k, v in sorted(modes.items())),
                },
            ),
            flush=True,
        )
        print("soak answers: " + ", ".join(f"{k}={v}" for k, v in sorted(tally.answers.items())))
        for line in tally.errors:
            print(f"soak unexpected answer: {line}", flush=True)
        for label, missing in (("payment", payments.lost), ("refund", refunds.lost)):
            if missing:
                print(f"soak lost {label}s (first 5): {missing[:5]}", flush=True)
        return ok
    finally:
        sidecar.kill()
        await simulator.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"soak: sidecar log kept in {log}", flush=True)


def main(quick: bool) -> bool:
    seconds = float(os.environ.get("SOAK_SECONDS") or (60 if quick else 600))
    return asyncio.run(run(seconds))

"""One mode's run: N fresh sidecars on the one simulator, each queues its backlog while
Gameball is down, Gameball comes back for all of them at the same moment, live tills sell
while the backlogs drain, and the simulator's journal and ledger say how it went."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from sidecar.config import BudgetsSection

from .figures import Figures, measure, misses
from .modes import ACCOUNT_BUDGET_PER_S, Mode, Targets
from .resources import Usage, monitor
from .services import SimulatorProcess
from .stores import LiveTill, Store, start_all, stop_all

FINALIZE_BUDGET_S = BudgetsSection().finalize  # what the sidecars run with: nothing overrides it


@dataclass(frozen=True, kw_only=True)
class Plan:
    stores: int
    backlog: int  # sales queued offline at each store
    tills: int  # live tills, on the first stores
    seed: int
    env: dict[str, str] = field(default_factory=dict)  # given to every sidecar in every mode
    wan_rtt_s: float = 0.0  # round trip added between the stores and Gameball (and Redis)
    extra: dict[str, str] = field(default_factory=dict)  # what the command line set, to print


@dataclass
class Outcome:
    mode: Mode
    plan: Plan
    figures: Figures | None = None
    usage: Usage = field(default_factory=Usage)
    missed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    spec_violations: int = 0
    clean_stops: bool = True

    @property
    def ok(self) -> bool:
        return self.sound and not self.missed

    @property
    def sound(self) -> bool:
        """It ran, and every sale landed exactly once, inside Gameball's spec, and every sidecar
        stopped cleanly: whatever its speed."""
        return self.figures is not None and not self.problems

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "MISSED"
        return "met" if self.mode.targets != Targets() else "baseline"

    def lines(self) -> list[str]:
        head = f"fleet: mode={self.mode.name} stores={self.plan.stores} backlog={self.plan.backlog}"
        wan = f" wan_rtt_ms={self.plan.wan_rtt_s * 1000:.0f}" if self.plan.wan_rtt_s else ""
        wan += "".join(f" {name}={value}" for name, value in sorted(self.plan.extra.items()))
        if self.figures is None:
            return [f"{head} failed: {'; '.join(self.problems)}"]
        f = self.figures
        line = (
            f"{head} drain_s={f.drain_s:.1f} goodput_per_s={f.goodput_per_s:.2f}"
            f" budget_share={f.budget_share:.2f} rate_limited_share={f.rate_limited_share:.3f}"
            f" live_p95_s={f.live_p95_s:.2f} fairness={f.fairness:.2f}"
            f" sends={f.sends} answers_429={f.answers_429} live_sales={f.live_sales}"
            f" live_delivered_share={f.live_delivered_share:.2f}"
            f" fastest_store_s={f.fastest_store_s:.1f} slowest_store_s={f.slowest_store_s:.1f}"
            f" lost={f.lost} duplicated={f.duplicated} still_queued={f.still_queued}"
            f" spec_violations={self.spec_violations}"
            f"{wan} verdict={self.verdict}"
        )
        details = [f"  resources: {self.usage.line()}"]
        details += [f"  missed: {m}" for m in self.missed]
        details += [f"  problem: {p}" for p in self.problems]
        return [line, *details]


async def run_mode(
    mode: Mode,
    plan: Plan,
    simulator: SimulatorProcess,
    session: aiohttp.ClientSession,
    root: Path,
    *,
    gameball_url: str,
    redis_url: str | None = None,
    redis_pid: int | None = None,
) -> Outcome:
    """``gameball_url``: the simulator's API as the stores reach it (through the WAN relay)."""
    outcome = Outcome(mode, plan)
    env = {**plan.env, **mode.env(redis_url, plan.stores), **plan.extra}  # the command line wins
    await simulator.reset(session)
    stores = [Store(n, root / mode.name, gameball_url, env) for n in range(plan.stores)]
    watcher: asyncio.Task[None] | None = None
    try:
        await start_all(session, stores)
        watcher = asyncio.create_task(
            monitor(
                outcome.usage,
                sidecars=[s.sidecar.process.pid for s in stores if s.sidecar.process],
                simulator=simulator.process.pid if simulator.process else None,
                redis=redis_pid,
            )
        )
        await simulator.down(session)
        await asyncio.gather(*(store.queue_backlog(session, plan.backlog) for store in stores))
        refused = [r for store in stores for r in store.refused]
        if refused:
            outcome.problems.append(f"{len(refused)} backlog sales not queued, e.g. {refused[0]}")
            return outcome
        outcome.figures = await _drain(plan, simulator, session, stores, outcome, root / mode.name)
        outcome.spec_violations = await simulator.violations(session)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        statuses = await asyncio.to_thread(stop_all, stores)
        outcome.clean_stops = all(status == 0 for status in statuses)
    if (f := outcome.figures) is not None:
        outcome.missed = misses(f, mode.targets, FINALIZE_BUDGET_S)
        if f.lost or f.duplicated:
            outcome.problems.append(f"lost={f.lost} duplicated={f.duplicated} (must be 0)")
        if f.still_queued:
            outcome.problems.append(
                f"still_queued={f.still_queued}: acknowledged sales still in the stores' outboxes"
                " when the run ended (not lost, but not delivered in time)"
            )
    if outcome.spec_violations:
        outcome.problems.append(f"{outcome.spec_violations} requests outside Gameball's spec")
    if not outcome.clean_stops:
        outcome.problems.append(f"a sidecar did not stop cleanly: exit statuses {statuses}")
    return outcome


def keep_journal(journal: list[dict[str, Any]], path: Path, reconnected_at: float) -> None:
    """What the simulator received, one line a request (seconds after the reconnect, method,
    path, status, paymentId), beside the logs: where a figure came from, for a second look."""
    with path.open("wb") as out:
        for entry in journal:
            body = entry.get("json")
            line = (
                round(entry["time"] - reconnected_at, 4),
                entry["method"],
                entry["path"],
                entry["status"],
                body.get("paymentId") if isinstance(body, dict) else None,
            )
            out.write(msgspec.json.encode(line) + b"\n")


async def _drain(
    plan: Plan,
    simulator: SimulatorProcess,
    session: aiohttp.ClientSession,
    stores: list[Store],
    outcome: Outcome,
    directory: Path,
) -> Figures | None:
    rng = random.Random(plan.seed)
    tills = [
        LiveTill(stores[n % len(stores)], n, random.Random(rng.random())) for n in range(plan.tills)
    ]
    stop = asyncio.Event()
    # Static pacing drains at a small fraction of the budget (12/s); past 25 times the ideal
    # drain a fleet is stuck, not slow.
    within = max(180.0, 25 * plan.stores * plan.backlog / ACCOUNT_BUDGET_PER_S)
    reconnected_at = time.time()
    await simulator.up(session)
    selling = [asyncio.create_task(till.run(session, stop)) for till in tills]
    waiting = set(stores)
    deadline = time.monotonic() + within
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        pending = list(waiting)
        still = await asyncio.gather(*(store.backlog_open(session) for store in pending))
        waiting = {store for store, open_ in zip(pending, still, strict=True) if open_}
    stop.set()
    await asyncio.gather(*selling)
    if waiting:
        names = ", ".join(sorted(s.name for s in waiting))
        outcome.problems.append(f"backlog not drained within {within:.0f} s at {names}")
    # Live sales queued (202) during the drain go too: then every acknowledged sale can be
    # looked for in the ledger (as long as the drain may take: static pauses 30 s a 429).
    settle = time.monotonic() + within
    while time.monotonic() < settle:
        if not any(await asyncio.gather(*(store.queued(session) for store in stores))):
            break
        await asyncio.sleep(1.0)
    # What is still queued is not lost: it is told apart, and its sales looked for there.
    queued = await asyncio.gather(*(store.queued_payment_ids(session) for store in stores))
    journal = await simulator.requests(session)
    ledger = await simulator.ledger(session)
    await asyncio.to_thread(keep_journal, journal, directory / "journal.jsonl", reconnected_at)
    return measure(
        journal=journal,
        ledger=ledger,
        reconnected_at=reconnected_at,
        backlogs={store.name: store.backlog for store in stores},
        live=[sale for till in tills for sale in till.sales],
        acknowledged=[pid for till in tills for pid in till.acknowledged],
        queued=set().union(*queued),
    )

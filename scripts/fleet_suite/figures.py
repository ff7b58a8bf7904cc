"""The figures of one fleet run, read from what the simulator recorded (its journal of every
request and its answer, and its ledger), not from what the sidecars say about themselves."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.simulator.app import PREFIX
from sidecar.simulator.ratelimit import is_limited

from .modes import ACCOUNT_BUDGET_PER_S, Targets
from .stores import Sale

PAYMENTS = PREFIX + "/integrations/payments"


@dataclass(frozen=True, kw_only=True)
class Figures:
    drain_s: float
    goodput_per_s: float
    budget_share: float
    rate_limited_share: float
    live_p95_s: float
    fairness: float
    sends: int
    answers_429: int
    live_sales: int
    live_delivered_share: float  # answered 200 at the till, not queued
    slowest_store_s: float
    fastest_store_s: float
    lost: int
    duplicated: int
    still_queued: int  # acknowledged, not in the ledger, still in a store's outbox at the end


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


def p95(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def measure(
    *,
    journal: list[dict[str, Any]],
    ledger: list[dict[str, Any]],
    reconnected_at: float,
    backlogs: dict[str, list[str]],
    live: Iterable[Sale],
    acknowledged: Iterable[str],
    queued: Iterable[str] = (),
) -> Figures:
    """``backlogs``: each store's queued paymentIds. The drain runs from the reconnect to the
    last backlog payment Gameball accepted; goodput is every accepted transaction call (live
    sales too: they spend the same budget) in that time."""
    store_of = {pid: store for store, ids in backlogs.items() for pid in ids}
    finished: dict[str, float] = {}
    for entry in journal:
        body = entry.get("json") or {}
        pid = body.get("paymentId") if isinstance(body, dict) else None
        if entry["path"] == PAYMENTS and pid in store_of and _landed(entry):
            store = store_of[pid]
            finished[store] = max(finished.get(store, 0.0), entry["time"])
    drained_at = max(finished.values(), default=reconnected_at)
    drain_s = max(drained_at - reconnected_at, 1e-9)
    window = [
        e
        for e in journal
        if reconnected_at <= e["time"] <= drained_at and is_limited(e["path"].removeprefix(PREFIX))
    ]
    accepted = sum(1 for e in window if e["status"] is not None and 200 <= e["status"] < 300)
    limited = sum(1 for e in window if e["status"] == 429)
    goodput = accepted / drain_s
    times = [finished.get(store, math.inf) - reconnected_at for store in backlogs]
    in_drain = [s for s in live if reconnected_at <= s.started <= drained_at]
    paid = Counter(e["transactionId"] for e in ledger if e["type"] == "PaymentReward")
    wanted = set(store_of) | set(acknowledged)
    waiting = {pid for pid in set(queued) & wanted if paid[pid] == 0}
    return Figures(
        drain_s=drain_s,
        goodput_per_s=goodput,
        budget_share=goodput / ACCOUNT_BUDGET_PER_S,
        rate_limited_share=limited / len(window) if window else 0.0,
        live_p95_s=p95([s.seconds for s in in_drain]),
        fairness=jain(times) if all(math.isfinite(t) for t in times) else 0.0,
        sends=len(window),
        answers_429=limited,
        live_sales=len(in_drain),
        live_delivered_share=(
            sum(1 for s in in_drain if s.status == 200) / len(in_drain) if in_drain else 0.0
        ),
        slowest_store_s=max(times, default=0.0),
        fastest_store_s=min(times, default=0.0),
        lost=sum(1 for pid in wanted - waiting if paid[pid] == 0),
        still_queued=len(waiting),
        duplicated=sum(1 for pid in wanted if paid[pid] > 1),
    )


def _landed(entry: dict[str, Any]) -> bool:
    """Accepted now, or found already there (9004) after an answer lost on the way back."""
    answer = entry.get("response")
    return bool(entry["status"] == 200 or (isinstance(answer, dict) and answer.get("code") == 9004))


def misses(figures: Figures, targets: Targets, finalize_budget: float) -> list[str]:
    """The speed and fairness targets this run missed, each said with its figure (exactly once
    is not a target but a problem: ``run`` says so)."""
    missed = []
    if targets.budget_share is not None and not figures.budget_share >= targets.budget_share:
        missed.append(f"budget_share {figures.budget_share:.2f} < {targets.budget_share}")
    limit = targets.rate_limited_share
    if limit is not None and not figures.rate_limited_share <= limit:
        missed.append(f"rate_limited_share {figures.rate_limited_share:.3f} > {limit}")
    if targets.fairness is not None and not figures.fairness >= targets.fairness:
        missed.append(f"fairness {figures.fairness:.2f} < {targets.fairness}")
    if targets.live_p95_within_budget and not figures.live_p95_s <= finalize_budget:
        missed.append(f"live_p95_s {figures.live_p95_s:.2f} > {finalize_budget} (finalize budget)")
    return missed

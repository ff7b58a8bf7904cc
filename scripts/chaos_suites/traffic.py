"""What the tills were told, and the check of it against what Gameball received: every call the
sidecar acknowledged is in the simulator's ledger exactly once (an upsert in its journal, a
released coupon lock no longer held), each customer's calls arrived in the order they were
made, a refund after what it reverses, and a newcomer's welcome bonus before their first sale."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sidecar.simulator import SimulatorServer

# Where each kind arrives at Gameball, the id its body carries there, and the ledger row it
# writes under that id.
ARRIVES = {
    "payment": ("/integrations/payments", "paymentId", "PaymentReward"),
    "order": ("/integrations/orders", "orderId", "PaymentReward"),
    "cashback": ("/transactions/cashback", "transactionId", "PaymentReward"),
    "manual": ("/transactions/manual", "transactionId", "ManualAccumulation"),
}
CUSTOMERS_PATH = "/integrations/customers"
KINDS = (*ARRIVES, "customer", "refund", "coupon_release")


@dataclass(frozen=True)
class Call:
    kind: str  # a key of ARRIVES, or "customer"
    key: str  # its id (an upsert: the customer and a counter)
    body: dict[str, Any] = field(default_factory=dict)  # an upsert's, to find it at Gameball


@dataclass
class Record:
    """What the tills were told, to compare with what Gameball received."""

    calls: dict[str, list[Call]] = field(default_factory=dict)  # customer -> acked, in order
    refunds: dict[str, str] = field(default_factory=dict)  # refundId -> payment or order id
    releases: dict[str, str] = field(default_factory=dict)  # coupon lock -> customer
    holds_used: int = 0
    locks_used: int = 0
    calls_made: int = 0
    interrupted: int = 0
    longest_wait: float = 0.0
    unexpected: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(len(c) for c in self.calls.values()) + len(self.refunds) + len(self.releases)

    def by_kind(self) -> Counter[str]:
        counted = Counter(call.kind for calls in self.calls.values() for call in calls)
        counted["refund"] = len(self.refunds)
        counted["coupon_release"] = len(self.releases)
        return counted


def _sent(entry: dict[str, Any]) -> bool:
    """Answered 2xx, or not answered at all (applied or not: a till's calls are sent one
    after the other, so their first sends are in order either way)."""
    return entry["method"] == "POST" and entry["status"] in (200, None)


def _arrivals(journal: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(kind, id) -> the journal index where that call was first sent to Gameball."""
    first: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(journal):
        body = entry.get("json")
        if not _sent(entry) or not isinstance(body, dict):
            continue
        for kind, (path, id_field, _) in ARRIVES.items():
            if entry["path"].endswith(path) and isinstance(body.get(id_field), str):
                first.setdefault((kind, body[id_field]), index)
    return first


def _upsert_at(journal: list[dict[str, Any]], customer: str, call: Call) -> int | None:
    """Where the upsert was first sent, if Gameball ever answered it 2xx (an upsert may be sent
    again; there is no id to say "already")."""
    sent = [
        (index, entry["status"])
        for index, entry in enumerate(journal)
        if _sent(entry)
        and entry["path"].endswith(CUSTOMERS_PATH)
        and isinstance(entry.get("json"), dict)
        and entry["json"].get("customerId") == customer
        and all(entry["json"].get(k) == v for k, v in call.body.items())
    ]
    return sent[0][0] if any(status == 200 for _, status in sent) else None


def check_ledger(simulator: SimulatorServer, record: Record) -> dict[str, Any]:
    """Lost, duplicated and out of order, over every kind the tills sent."""
    sim = simulator.sim
    ledger, journal = sim.ledger(), sim.requests
    rows = Counter((str(e.get("transactionId")), e["type"]) for e in ledger)
    arrived = _arrivals(journal)
    lost: Counter[str] = Counter()
    duplicated: Counter[str] = Counter()
    order_violations = 0
    for customer, calls in record.calls.items():
        positions: list[int] = []
        for call in calls:
            if call.kind == "customer":
                at = _upsert_at(journal, customer, call)
            else:
                seen = rows[(call.key, ARRIVES[call.kind][2])]
                duplicated[call.kind] += seen > 1
                at = arrived.get((call.kind, call.key), -1) if seen else None
            if at is None:
                lost[call.kind] += 1
            else:
                positions.append(at)
        order_violations += positions != sorted(positions)
    for refund_id in record.refunds:
        applied = rows[(refund_id, "Cancel")] + rows[(refund_id, "Refund")]
        lost["refund"] += applied == 0
        duplicated["refund"] += rows[(refund_id, "Cancel")] > 1 or rows[(refund_id, "Refund")] > 1
    position = {str(e.get("transactionId")): i for i, e in reversed(list(enumerate(ledger)))}
    for refund_id, sale_id in record.refunds.items():
        if refund_id in position and position[refund_id] < position.get(sale_id, 1 << 30):
            order_violations += 1
    locks = {lock["lockReference"]: lock for lock in sim.state.coupons.snapshot()["locks"]}
    for reference in record.releases:
        lost["coupon_release"] += (locks.get(reference) or {}).get("state") != "released"
    welcome_late, welcomed_twice = _welcomes(ledger, record)
    return {
        "acknowledged": record.acknowledged,
        "delivered": record.acknowledged - sum(lost.values()),
        "lost": sum(lost.values()),
        "duplicated": sum(duplicated.values()),
        "order_violations": order_violations + welcome_late,
        "welcomed_twice": welcomed_twice,
        "lost_by_kind": _by_kind(lost),
        "duplicated_by_kind": _by_kind(duplicated),
    }


def _welcomes(ledger: list[dict[str, Any]], record: Record) -> tuple[int, int]:
    """Newcomers (registered by their first call) whose welcome bonus did not come before
    their first sale's points, and those welcomed more than once."""
    late = twice = 0
    for customer, calls in record.calls.items():
        if not calls or calls[0].kind != "customer" or not calls[0].key.endswith("#0"):
            continue
        types = [e["type"] for e in ledger if e["customerId"] == customer]
        welcomes = types.count("AchievementReward")
        twice += welcomes > 1
        if "PaymentReward" in types:
            late += welcomes == 0 or types.index("AchievementReward") > types.index("PaymentReward")
    return late, twice


def _by_kind(counted: Counter[str]) -> str:
    shown = [f"{kind}:{counted[kind]}" for kind in KINDS if counted[kind]]
    return ",".join(shown) or "none"


def kinds_line(record: Record) -> str:
    counted = record.by_kind()
    return ",".join(f"{kind}:{counted[kind]}" for kind in KINDS)

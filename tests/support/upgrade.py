"""A store's queue as the previous release left it at an upgrade, and what the current release
must then have done with it: 1,000 open rows over 40 customers (payments, payments burning a
hold, refunds, hold releases) behind each customer's delivered history; each customer's head
left in flight by a restart, or sent without an answer, and some of those had landed at
Gameball before the answer was lost. Every row must reach Gameball exactly once, in order."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from sidecar.simulator import SimulatorServer
from sidecar.timefmt import iso_ms

from . import legacy
from .clients import GameballClient

CUSTOMERS = 40
OPEN_EACH = 25  # 40 x 25 = 1,000 open rows
HISTORY_EACH = 2
PRUNED = 37  # delivered rows 0.1.0's retention had already deleted: ids it gave and never reuses
Fate = Literal["pending", "uncertain", "inflight", "delivered"]
# Each customer's head: (fate, whether its send had reached Gameball), by customer number.
HEADS: tuple[tuple[Fate, bool], ...] = (
    ("inflight", True),
    ("inflight", False),
    ("uncertain", True),
    ("uncertain", False),
    ("pending", False),
)

PATHS = {"payment": "/integrations/payments", "refund": "/integrations/transactions/refund"}
# The ledger rows a payment and a refund of it make, each exactly once.
ONCE = frozenset({"PaymentReward", "Cancel"})


@dataclass
class Backlog:
    rows: list[legacy.Row] = field(default_factory=list)
    holds: list[legacy.Hold] = field(default_factory=list)
    landed: set[str] = field(default_factory=set)  # idem keys Gameball applied before the upgrade
    customers: list[str] = field(default_factory=list)

    @property
    def open_rows(self) -> list[legacy.Row]:
        return [row for row in self.rows if row.fate != "delivered"]

    @property
    def highest_id(self) -> int:
        """The last id 0.1.0 handed out, pruned rows included."""
        return PRUNED + len(self.rows)

    def of_kind(self, kind: legacy.Kind) -> list[legacy.Row]:
        return [row for row in self.rows if row.kind == kind]


class _Customer:
    """One customer's rows, in the order 0.1.0 stored them, each with a distinct time."""

    def __init__(self, backlog: Backlog, gameball: GameballClient, name: str, number: int) -> None:
        self.backlog = backlog
        self.gameball = gameball
        self.name = name
        self.payments: list[str] = []
        # Two days ago, a minute apart, and a millisecond apart between customers (no 9003).
        self._base = time.time() - 2 * 86400.0 + number / 1000
        self._step = 0

    def _at(self) -> float:
        self._step += 1
        return self._base + 60.0 * self._step

    async def payment(self, fate: Fate, *, with_hold: bool = False) -> legacy.Row:
        payment_id = f"{self.name}-p{len(self.payments):03d}"
        fields: dict[str, Any] = {"paymentDetails": [{"serviceId": "latte", "amount": 12.0}]}
        if with_hold:
            reference = await self._hold("active")
            fields["redemption"] = {"pointsHoldReference": reference}
        row = legacy.payment(self.name, payment_id, 12.0, self._at(), **fields)
        self.payments.append(payment_id)
        return self._add(row, fate)

    def refund(self, fate: Fate, payment_id: str) -> legacy.Row:
        refund_id = f"{payment_id}-r"
        return self._add(legacy.refund(self.name, refund_id, payment_id, self._at(), 2.0), fate)

    async def release(self, fate: Fate) -> legacy.Row:
        return self._add(legacy.release(self.name, await self._hold("released")), fate)

    def _add(self, row: legacy.Row, fate: Fate) -> legacy.Row:
        row = dataclasses.replace(row, fate=fate)
        self.backlog.rows.append(row)
        return row

    async def _hold(self, local_state: Literal["active", "released"]) -> str:
        body = {
            "customerId": self.name,
            "transactionTime": iso_ms(self._at()),
            "pointsToHold": 20,
        }
        status, answer = await self.gameball.post("/integrations/transactions/hold", body)
        assert status == 200, answer
        reference = str(answer["holdReference"])
        self.backlog.holds.append(
            legacy.Hold(
                reference=reference,
                checkout_id=f"{self.name}-co{len(self.backlog.holds):03d}",
                customer=self.name,
                points=20.0,
                amount=float(answer["holdAmount"]),
                state=local_state,
                expires_at=time.time() + 600.0,
            )
        )
        return reference


async def prepare(
    gameball: GameballClient, *, customers: int = CUSTOMERS, open_each: int = OPEN_EACH
) -> Backlog:
    """Customers seeded at the simulator, their history and landed heads applied there, and the
    rows 0.1.0 would have on disk (write them with ``legacy.write``)."""
    backlog = Backlog()
    for number in range(customers):
        name = f"up-{number:03d}"
        backlog.customers.append(name)
        status, _ = await gameball.control(
            "POST", "/customers", {"customerId": name, "points": 5000}
        )
        assert status == 200
        customer = _Customer(backlog, gameball, name, number)
        for _ in range(HISTORY_EACH):
            await _land(gameball, await customer.payment("delivered"))
        fate, landed = HEADS[number % len(HEADS)]
        head = await _head(customer, number, fate)
        if landed:
            await _land(gameball, head)
            backlog.landed.add(head.idem_key)
        for k in range(1, open_each):
            if k % 6 == 0:
                customer.refund("pending", customer.payments[-3])
            elif k == open_each - 1 and number % 4 == 0:
                await customer.release("pending")
            else:
                await customer.payment("pending", with_hold=k % 10 == 3)
    return backlog


async def _head(customer: _Customer, number: int, fate: Fate) -> legacy.Row:
    if number % 8 == 5:
        return customer.refund(fate, customer.payments[0])
    if number % 8 == 6:
        return await customer.release(fate)
    return await customer.payment(fate, with_hold=number % 8 == 7)


async def _land(gameball: GameballClient, row: legacy.Row) -> None:
    """Apply the row at Gameball as 0.1.0 sent it (its answer then lost, unless delivered)."""
    if row.kind == "release":
        status, answer = await gameball.delete(f"/integrations/transactions/hold/{row.key}")
    else:
        path = PATHS[row.kind]
        status, answer = await gameball.call("POST", path, json=legacy.decode(row.body))
    assert status == 200, answer


def check_delivered_once(simulator: SimulatorServer, backlog: Backlog) -> dict[str, Any]:
    """Every payment and refund in Gameball's ledger exactly once, each customer's payments in
    the order they were stored, each refund after its payment, each hold burned or released
    once; returns the figures (the test asserts them)."""
    ledger = simulator.sim.ledger()
    counts = Counter((e["transactionId"], e["type"]) for e in ledger)
    position = {(e["transactionId"], e["type"]): i for i, e in enumerate(ledger)}
    payments = backlog.of_kind("payment")
    refunds = backlog.of_kind("refund")
    lost = [r.key for r in payments if counts[(r.key, "PaymentReward")] == 0]
    lost += [r.key for r in refunds if counts[(r.key, "Cancel")] == 0]
    duplicated = [key for key, n in counts.items() if n > 1 and key[1] in ONCE]
    out_of_order = 0
    for customer in backlog.customers:
        stored = [r.key for r in payments if r.customer == customer]
        seen = [
            e["transactionId"]
            for e in ledger
            if e["customerId"] == customer and e["type"] == "PaymentReward"
        ]
        out_of_order += [t for t in seen if t in set(stored)] != stored
    for row in refunds:
        paid = row.after_key.removeprefix("payment:") if row.after_key else ""
        if position.get((row.key, "Cancel"), -1) < position.get((paid, "PaymentReward"), 1 << 30):
            out_of_order += 1
    burns = [r for r in payments if r.hold_reference is not None]
    unburned = [r.key for r in burns if counts[(r.key, "Redemption")] != 1]
    return {
        "first_lost": lost[:3],
        "rows": len(backlog.rows),
        "open": len(backlog.open_rows),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "out_of_order": out_of_order,
        "burns": len(burns),
        "unburned": len(unburned),
    }

"""What every rule of the checkout machine stands on: one world per example, the model, the
checks, the step log hypothesis prints, and the final drain-and-check."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

from .answers import Answer
from .contract import Contract
from .coverage import coverage
from .kinds import row_key
from .origins import Snapshot, first_hold_in
from .promises import Promises, Report
from .reference import Model
from .retail_checks import RetailChecks
from .retail_settled import RetailSettled
from .settings import CUSTOMERS
from .world import World

customers = st.sampled_from(CUSTOMERS)
picks = st.integers(min_value=0, max_value=1000)


def pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


class Base(RuleBasedStateMachine):
    """One example: a fresh simulator, sidecar and database."""

    report: ClassVar[Report | None] = None  # set by the chaos suite to collect, not raise
    # Settings a variant of the machine runs its sidecar with, on top of the model's own.
    extra_env: ClassVar[dict[str, str]] = {}
    settled_class: ClassVar[type[RetailSettled]] = RetailSettled
    _contract: ClassVar[Contract | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.world = World(self.extra_env)
        self.model = Model()
        self.promises = Promises(self.report)
        if Base._contract is None:
            Base._contract = Contract(self.world.get_json("/openapi.json"))
        self.check = RetailChecks(self.promises, Base._contract, self.model)
        # refundId -> payment ids whose finalize found that refund waiting in the queue
        self.refunds_waiting: dict[str, set[str]] = {}
        self.steps = 0

    def _said(self, what: str, answer: Answer) -> None:
        self._did(f"{what} -> {answer.short()}")

    def _did(self, what: str) -> None:
        self.steps += 1
        if self.report is not None:
            self.report.steps += 1
        line = f"  #{self.steps} {what}"
        self.promises.trail.append(line)
        note(line)

    def _row(self, kind: str, sale_id: str, customer: str) -> dict[str, Any] | None:
        for row in self.world.outbox(customer):
            if row_key(row) == (kind, sale_id):
                return row
        return None

    def _settle(self) -> None:
        self.world.heal()
        self.model.losing = set()
        drained, _ = self.world.drain()
        self._did(f"healed and {'drained' if drained else 'NOT drained'}: checking the ledger")
        journal = self.world.journal()
        references = {
            first_hold_in(journal, answer, checkout.customer)
            for checkout in self.model.checkouts.values()
            for answer in checkout.answers
            if answer.status != 200
        }
        states = {r: self.world.hold_state(r) for r in references if r is not None}
        snap = Snapshot(
            drained,
            self.world.ledger(),
            journal,
            self.world.outbox(),
            states,
            self.world.locks(),
            self.world.status(),
        )
        self.settled_class(self.promises, self.model, snap).check(self.refunds_waiting)
        if self.report is not None:
            self.report.covered.update(coverage(self.model, snap))
        violations = self.world.spec_violations()
        if violations:
            self.promises.broke("spec", f"requests outside Gameball's spec: {violations[:5]}")
        self.promises.flush()

    def teardown(self) -> None:
        if self.report is not None:
            self.report.examples += 1
        try:
            # After a failed step, only clean up: a second failure would hide the first.
            if sys.exc_info()[0] is None:
                self._settle()
        finally:
            self.world.close()

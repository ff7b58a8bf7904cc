"""The state machine: POS requests, Gameball faults, clock jumps and restarts as hypothesis rules,
each answer checked at once, and everything checked against Gameball's ledger once it drains."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import rule

from .base import pick, picks
from .retail_rules import RetailRules
from .settings import SLOW_SECONDS

PATHS = {
    "payments": "/integrations/payments",
    "hold": "/transactions/hold",
    "redeem": "/transactions/redeem",
    "refund": "/transactions/refund",
    "orders": "/integrations/orders",
    "cashback": "/transactions/cashback",
    "manual": "/transactions/manual",
    "customers": "/integrations/customers",
    "coupons": "/integrations/coupons",
}
scopes = st.sampled_from([None, *PATHS])
counts = st.sampled_from([1, 2, None])
# Gameball refusals that do not lie about what happened (a made-up 9004 would).
REFUSALS = {
    "payments": (3003, 2001),
    "hold": (9008, 2001, 3003, 7000),
    "redeem": (2001, 3003),
    "refund": (3003, 2001),
    "orders": (3003, 2001),
    "cashback": (3003, 2001),
    "manual": (3003, 2001),
    "customers": (3003, 2001),
    "coupons": (3003, 2001),
}
STATUS = {3003: 422, 2001: 422, 9008: 422, 7000: 404}


class CheckoutMachine(RetailRules):
    """The whole checkout: POS rules from the bases, Gameball's faults and the machine's here."""

    @rule(
        mode=st.sampled_from(["blackhole", "slow", "error5xx", "html503"]),
        scope=scopes,
        count=counts,
    )
    def outage(self, mode: str, scope: str | None, count: int | None) -> None:
        options: dict[str, Any] = {"paths": [PATHS[scope]] if scope else None, "count": count}
        if mode == "slow":
            options["delay_seconds"] = SLOW_SECONDS
        self.world.set_fault(mode, **options)
        self.model.losing = set()
        self._did(f"Gameball fault {mode} on {scope or 'every path'} for {count or 'ever'}")

    @rule()
    def gameball_down(self) -> None:
        self.world.set_down(True)
        self._did("Gameball down (connections refused)")

    @rule(scope=st.sampled_from(list(PATHS)), count=counts)
    def lose_answers(self, scope: str, count: int | None) -> None:
        self.world.set_fault("drop_response", paths=[PATHS[scope]], count=count)
        self.model.losing = {scope}
        self._did(f"Gameball applies {scope} calls but the answer is lost, {count or 'ever'}")

    @rule(scope=st.sampled_from(["payments", "orders", "hold", "redeem", "refund"]), count=counts)
    def back_losing_answers(self, scope: str, count: int | None) -> None:
        """Gameball is back, and the queue replays while it applies calls whose answers are
        lost on the way (a crash in between looks the same to the sidecar)."""
        self.world.set_fault("drop_response", paths=[PATHS[scope]], count=count)
        self.model.losing = {scope}
        self.world.set_down(False)
        drained, _ = self.world.drain(within=3.0)
        self._did(f"Gameball back, losing {scope} answers {count or 'ever'}: replayed ({drained})")

    @rule(scope=st.sampled_from(list(PATHS)), index=picks, count=counts)
    def refuse(self, scope: str, index: int, count: int | None) -> None:
        code = pick(list(REFUSALS[scope]), index)
        self.world.set_fault(
            "gameball_error", paths=[PATHS[scope]], count=count, status=STATUS[code], code=code
        )
        self.model.losing = set()
        self._did(f"Gameball refuses {scope} calls with {code}, {count or 'ever'}")

    @rule()
    def heal(self) -> None:
        self.world.heal()
        self.model.losing = set()
        self._did("Gameball healed")

    @rule()
    def expire_holds(self) -> None:
        self.world.advance_clock(self.world.sim.hold_ttl_seconds + 60)
        self._did("Gameball's clock jumps past every hold's expiry")

    @rule()
    def restart(self) -> None:
        self.world.restart()
        self._did(f"sidecar restarted cleanly (start #{self.world.starts})")

    @rule()
    def settle(self) -> None:
        self._settle()

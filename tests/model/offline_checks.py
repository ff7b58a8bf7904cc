"""Checks on answers with [offline_redemption] on: an offline hold stays within every cap, a
refusal naming a cap names one really reached, and a refusal for want of points is judged
against the last balance this till read (Gameball was not asked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .answers import Answer
from .contract import BALANCE as BALANCE_OP
from .reference import Checkout
from .retail_checks import RetailChecks


@dataclass(frozen=True)
class Caps:
    per_checkout: int
    share: float
    per_customer: int
    per_terminal: int


# Small, so that a few checkouts reach each of them.
CAPS = Caps(per_checkout=150, share=0.5, per_customer=300, per_terminal=500)
BALANCE = "/balance"
LOCAL = ("INSUFFICIENT_POINTS", "TRANSACTION_ID_TAKEN")


def last_balance(journal: list[dict[str, Any]], customer: str, before: int) -> tuple[int, float]:
    """The journal index and available points of the last balance Gameball gave this till for
    the customer before ``before`` (-1 and 0 when it never did)."""
    for index in range(min(before, len(journal)) - 1, -1, -1):
        entry = journal[index]
        response = entry.get("response")
        if (
            entry["method"] == "GET"
            and entry["path"].endswith(f"/customers/{customer}{BALANCE}")
            and entry["status"] == 200
            and isinstance(response, dict)
        ):
            return index, float(response.get("availablePointsBalance") or 0)
    return -1, 0.0


class OfflineChecks(RetailChecks):
    def told_by_gameball(self, answer: Answer, journal: list[dict[str, Any]], what: str) -> None:
        error = answer.error or {}
        if answer.code in LOCAL and error.get("upstreamCode") is None:
            # Judged here, Gameball unreachable: from the last known balance, or a redeem-now's
            # id this terminal already redeemed offline (hold_answer checks that it did).
            return
        super().told_by_gameball(answer, journal, what)

    def hold_answer(
        self,
        checkout: Checkout,
        answer: Answer,
        journal: list[dict[str, Any]],
        *,
        taken_before: bool,
        fresh_checkout: bool,
    ) -> None:
        super().hold_answer(
            checkout, answer, journal, taken_before=taken_before, fresh_checkout=fresh_checkout
        )
        if fresh_checkout and answer.status == 200 and answer.field("provisional") is True:
            self._within_caps(checkout, answer, journal)
        elif fresh_checkout and answer.code == "OFFLINE_REDEMPTION_LIMIT":
            self._cap_reached(checkout, answer)
        elif answer.code == "OFFLINE_REDEMPTION_UNAVAILABLE":
            index, _ = last_balance(journal, checkout.customer, answer.window[0])
            if index >= 0:
                self.p.broke(
                    "truthful",
                    f"hold-and-redeem {checkout.checkout_id}: OFFLINE_REDEMPTION_UNAVAILABLE, but "
                    f"this till read {checkout.customer}'s balance (request #{index})",
                )

    def _spent(self, customer: str | None) -> int:
        """Offline points answered so far and not given back: a customer's, or everyone's."""
        return sum(
            p.points
            for p in self.model.provisional.values()
            if (customer is None or p.customer == customer)
            and not self.model.holds[p.reference].released
        )

    def _within_caps(
        self, checkout: Checkout, answer: Answer, journal: list[dict[str, Any]]
    ) -> None:
        what = f"offline hold {answer.field('holdReference')} ({checkout.checkout_id})"
        customer, points = checkout.customer, checkout.points
        broken: list[str] = []
        if points > CAPS.per_checkout:
            broken.append(f"{points} points in one checkout, cap {CAPS.per_checkout}")
        if self._spent(customer) + points > CAPS.per_customer:
            broken.append(
                f"{self._spent(customer)} + {points} points of {customer} today, cap "
                f"{CAPS.per_customer}"
            )
        if self._spent(None) + points > CAPS.per_terminal:
            broken.append(
                f"{self._spent(None)} + {points} points on this terminal today, cap "
                f"{CAPS.per_terminal}"
            )
        index, available = last_balance(journal, customer, answer.window[1])
        # Offline holds made since that balance was read cannot be in it.
        since = sum(
            p.points
            for p in self.model.provisional.values()
            if p.customer == customer
            and p.made_at > index
            and not self.model.holds[p.reference].released
        )
        if index < 0:
            broken.append(f"no balance of {customer} was ever read from Gameball")
        elif since + points > CAPS.share * available + 1e-6:
            broken.append(
                f"{since} + {points} points against a last known balance of {available:g} "
                f"(request #{index}), share {CAPS.share:g}"
            )
        for why in broken:
            self.p.broke("caps", f"{what}: {why}")

    def _cap_reached(self, checkout: Checkout, answer: Answer) -> None:
        """The cap a refusal names must really be reached (the share is judged by the sidecar
        against outstanding holds the model cannot see exactly)."""
        message = str((answer.error or {}).get("message"))
        customer, points = checkout.customer, checkout.points
        reached = {
            "max_points_per_checkout": points > CAPS.per_checkout,
            "max_points_per_customer_per_day": self._spent(customer) + points > CAPS.per_customer,
            "max_points_per_terminal_per_day": self._spent(None) + points > CAPS.per_terminal,
            "max_share_of_balance": True,
        }
        named = [cap for cap in reached if cap in message]
        if not named or not all(reached[cap] for cap in named):
            self.p.broke(
                "truthful",
                f"hold-and-redeem {checkout.checkout_id} of {points} points refused "
                f"{answer.short()}: {message!r}, but that cap is not reached",
            )

    def balance_answer(self, customer: str, answer: Answer, journal: list[dict[str, Any]]) -> None:
        what = f"balance of {customer}"
        self.documented(BALANCE_OP, answer, what)
        if answer.code in ("UPSTREAM_REJECTED", "UPSTREAM_BUSY"):
            self.told_by_gameball(answer, journal, what)
        if answer.status == 200 and answer.field("availablePointsBalance") is None:
            self.p.broke("documented", f"{what}: 200 without availablePointsBalance")
        if answer.code == "CUSTOMER_NOT_FOUND":
            self.p.broke("truthful", f"{what}: CUSTOMER_NOT_FOUND, but {customer} is seeded")

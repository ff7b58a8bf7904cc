"""Where each row of Gameball's ledger came from: a payment, a refund, or a redeem made by a
hold-and-redeem request (found through the simulator's journal); and what each checkout was
told about its redemption, against that."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .answers import Answer
from .kinds import row_key
from .promises import Promises
from .reference import Checkout, Model

CLOSED = ("dead", "discarded")
UNKNOWN = "REDEMPTION_OUTCOME_UNKNOWN"


@dataclass(frozen=True)
class Snapshot:
    drained: bool
    ledger: list[dict[str, Any]]
    journal: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    hold_states: dict[str, str]
    locks: dict[str, dict[str, Any]] = field(default_factory=dict)  # Gameball's coupon locks
    status: dict[str, Any] = field(default_factory=dict)  # the sidecar's /v1/status then

    def lock_state(self, reference: str | None) -> str | None:
        lock = self.locks.get(reference or "")
        return str(lock["state"]) if lock is not None else None


def _is_post(entry: dict[str, Any], suffix: str) -> bool:
    return (
        entry["method"] == "POST"
        and entry["path"].endswith(suffix)
        and isinstance(entry.get("json"), dict)
    )


def made_holds(journal: list[dict[str, Any]]) -> dict[str, int]:
    """Hold reference -> index of the journal entry whose answer gave it."""
    made: dict[str, int] = {}
    for index, entry in enumerate(journal):
        response = entry.get("response")
        if _is_post(entry, "/transactions/hold") and isinstance(response, dict):
            reference = response.get("holdReference")
            if isinstance(reference, str):
                made.setdefault(reference, index)
    return made


def first_hold_in(journal: list[dict[str, Any]], answer: Answer, customer: str) -> str | None:
    """The hold the sidecar placed at Gameball for this POS request, if one was answered."""
    for entry in journal[answer.window[0] : answer.window[1]]:
        response = entry.get("response")
        if _is_post(entry, "/transactions/hold") and entry["json"].get("customerId") == customer:
            if isinstance(response, dict) and isinstance(response.get("holdReference"), str):
                return str(response["holdReference"])
            return None
    return None


class Origins:
    def __init__(self, promises: Promises, model: Model, snap: Snapshot) -> None:
        self.p = promises
        self.model = model
        self.snap = snap
        self.by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in snap.ledger:
            self.by_tx[str(entry.get("transactionId"))].append(entry)
        self.rows = {row_key(r): r for r in snap.outbox}
        self.rewarded = {
            tx
            for tx, entries in self.by_tx.items()
            if any(e["type"] == "PaymentReward" for e in entries)
        }
        # Holds that payments named when sent (re-holds among them): not a checkout's orphans.
        self.burning = {
            str(e["json"].get("redemption", {}).get("pointsHoldReference"))
            for e in snap.journal
            if _is_post(e, "/integrations/payments")
            and isinstance(e["json"].get("redemption"), dict)
        }
        # Redemption rows of redeems, per hold-and-redeem request (by id of its Answer).
        self.redeemed: dict[int, list[dict[str, Any]]] = defaultdict(list)

    # --- inv 1: every ledger row comes from the customer's own checkout -----------------------

    def _attribute_ledger(self) -> None:
        made = made_holds(self.snap.journal)
        answers = [
            (checkout, answer)
            for checkout in self.model.checkouts.values()
            for answer in checkout.answers
        ]
        for entry in self.snap.ledger:
            tx, customer, kind = str(entry.get("transactionId")), entry["customerId"], entry["type"]
            points = entry["points"]
            if self._attributed(entry):
                continue
            # A payment writes its reward and its redemption together; a redemption alone
            # under an id is a redeem's, even when a payment id was (wrongly) used for it.
            if kind == "PaymentReward" or (kind == "Redemption" and tx in self.rewarded):
                owner = self.model.payments.get(tx)
                if owner is None or owner.customer != customer:
                    whose = "no payment of the POS" if owner is None else f"{owner.customer}'s"
                    self.p.broke(
                        "own-points",
                        f"{customer}'s ledger has {kind} of {points} points under {tx} ({whose})",
                    )
            elif kind == "Redemption":
                self._attribute_redeem(entry, made, answers)
            else:
                refund = self.model.refunds.get(tx)
                if refund is None or refund.customer != customer:
                    self.p.broke(
                        "own-points",
                        f"{customer}'s ledger has {kind} of {points} points under {tx}, which is "
                        "not a refund of theirs",
                    )

    def _attributed(self, entry: dict[str, Any]) -> bool:
        """A row the retail calls (or a spend at another store) explain; checked there."""
        return False

    def _attribute_redeem(
        self,
        entry: dict[str, Any],
        made: dict[str, int],
        answers: list[tuple[Checkout, Answer]],
    ) -> None:
        tx, customer, points = str(entry.get("transactionId")), entry["customerId"], entry["points"]
        sent = [
            e
            for e in self.snap.journal
            if _is_post(e, "/transactions/redeem")
            and e["json"].get("transactionId") == tx
            and e["json"].get("customerId") == customer
            and (e["status"] is None or 200 <= e["status"] < 300)
        ]
        reference = sent[0]["json"].get("holdReference") if sent else None
        index = made.get(reference) if isinstance(reference, str) else None
        # Requests sent at once share a window: the one that claims the redemption made it.
        candidates = [
            answer
            for checkout, answer in answers
            if index is not None
            and answer.window[0] <= index < answer.window[1]
            and checkout.customer == customer
            and checkout.redeem_now
        ]
        claims = [a for a in candidates if a.field("redemption") or a.code == UNKNOWN]
        if candidates:
            self.redeemed[id((claims or candidates)[0])].append(entry)
            return
        self.p.broke(
            "own-points",
            f"{customer} lost {points} points to redemption {tx} (hold {reference}), which no "
            f"hold-and-redeem of {customer} made",
        )

    # --- hold-and-redeem ----------------------------------------------------------------------

    def _checkout(self, checkout: Checkout) -> None:
        what = f"checkout {checkout.checkout_id} of {checkout.customer}"
        landed = [e for a in checkout.answers for e in self.redeemed[id(a)]]
        if len(landed) > 1:
            self.p.broke(
                "exactly-once",
                f"{what} redeemed {len(landed)} times at Gameball: "
                f"{[(e['transactionId'], e['points']) for e in landed]}",
            )
        for answer in checkout.answers:
            redemption = answer.field("redemption") if answer.status == 200 else None
            mine = self.redeemed[id(answer)]
            if mine and not redemption and answer.code != "REDEMPTION_OUTCOME_UNKNOWN":
                self.p.broke(
                    "truthful",
                    f"{what} was told {answer.short()}, but Gameball redeemed {mine[0]['points']} "
                    f"points for that request (transaction {mine[0]['transactionId']})",
                )
            if isinstance(redemption, dict):
                self._told_redeemed(what, redemption, landed)
            if answer.status != 200:
                self._no_orphan_hold(checkout, answer, what)

    def _told_redeemed(
        self, what: str, redemption: dict[str, Any], landed: list[dict[str, Any]]
    ) -> None:
        points = redemption.get("redeemedPoints")
        match = [e for e in landed if e["points"] == points]
        if not match:
            self.p.broke(
                "truthful",
                f"{what} was told {points} points were redeemed (transaction "
                f"{redemption.get('transactionId')}), but Gameball's ledger has "
                f"{[(e['transactionId'], e['points']) for e in landed] or 'no redemption'} for it",
            )
        elif redemption.get("redeemedAmount") != match[0]["amount"]:
            self.p.broke(
                "truthful",
                f"{what} was told redeemedAmount {redemption.get('redeemedAmount')}, Gameball "
                f"redeemed {match[0]['amount']}",
            )

    def _no_orphan_hold(self, checkout: Checkout, answer: Answer, what: str) -> None:
        """A checkout refused after its hold was placed must release it (an unknown outcome
        promises less: it may still be settling, and is judged by the redemptions alone)."""
        if answer.code == "REDEMPTION_OUTCOME_UNKNOWN":
            return
        reference = first_hold_in(self.snap.journal, answer, checkout.customer)
        if reference is None or checkout.reference == reference or reference in self.burning:
            return
        release = self.rows.get(("release", reference))
        if release is not None and release["state"] in CLOSED and release["lastError"]:
            return  # the release itself was refused, with a reason: a documented end
        if self.snap.hold_states.get(reference) == "active":
            self.p.broke(
                "truthful",
                f"{what} was told {answer.short()}, but its hold {reference} ({checkout.points} "
                "points) is still active at Gameball: the customer's points stay locked",
            )

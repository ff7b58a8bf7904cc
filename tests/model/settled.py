"""Checks once Gameball is reachable again and the queue has drained: the simulator's ledger and
the sidecar's outbox against everything the POS asked for and was told."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .promises import Promises
from .reference import Checkout, Model, Sale
from .world import DRAIN_WITHIN, Answer

CLOSED = ("dead", "discarded")
REFUND_BEFORE_PAYMENT = 9005
ALREADY_EXISTS = (9004, 9001)
UNKNOWN = "REDEMPTION_OUTCOME_UNKNOWN"


@dataclass(frozen=True)
class Snapshot:
    drained: bool
    ledger: list[dict[str, Any]]
    journal: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    hold_states: dict[str, str]


def row_key(row: dict[str, Any]) -> tuple[str, str]:
    kind = row["kind"]
    if kind == "payment":
        return kind, str(row["paymentId"])
    if kind == "refund":
        return kind, str(row["refundId"])
    return kind, str(row["holdReference"])


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


class Settled:
    def __init__(self, promises: Promises, model: Model, snap: Snapshot) -> None:
        self.p = promises
        self.model = model
        self.snap = snap
        self.by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in snap.ledger:
            self.by_tx[str(entry["transactionId"])].append(entry)
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

    def check(self, refunds_waiting: dict[str, set[str]]) -> None:
        if not self.snap.drained:
            stuck = [
                f"{r['kind']} {row_key(r)[1]} of {r['customerId']} ({r['state']}, "
                f"attempts {r['attempts']}, last {r['lastCode']}: {r['lastError']})"
                for r in self.snap.outbox
                if r["state"] in ("pending", "inflight")
            ]
            self.p.broke(
                "no-wedge",
                f"{DRAIN_WITHIN:.0f}s after Gameball healed, still queued: {'; '.join(stuck)}",
            )
        self._attribute_ledger()
        for checkout in self.model.checkouts.values():
            self._checkout(checkout)
        for payment in self.model.payments.values():
            self._payment(payment)
        self._one_discount_per_hold()
        for refund in self.model.refunds.values():
            self._refund(refund, refunds_waiting.get(refund.sale_id, set()))
        self._releases()
        self._order()

    # --- inv 1: every ledger row comes from the customer's own checkout -----------------------

    def _attribute_ledger(self) -> None:
        made = made_holds(self.snap.journal)
        answers = [
            (checkout, answer)
            for checkout in self.model.checkouts.values()
            for answer in checkout.answers
        ]
        for entry in self.snap.ledger:
            tx, customer, kind = str(entry["transactionId"]), entry["customerId"], entry["type"]
            points = entry["points"]
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

    def _attribute_redeem(
        self,
        entry: dict[str, Any],
        made: dict[str, int],
        answers: list[tuple[Checkout, Answer]],
    ) -> None:
        tx, customer, points = str(entry["transactionId"]), entry["customerId"], entry["points"]
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

    # --- inv 2 and 3: payments ----------------------------------------------------------------

    def _payment(self, sale: Sale) -> None:
        pid, customer = sale.sale_id, sale.customer
        what = f"payment {pid} of {customer}"
        row = self.rows.get(("payment", pid))
        entries = self.by_tx.get(pid, [])
        rewards = [e for e in entries if e["type"] == "PaymentReward"]
        redemptions = [e for e in entries if e["type"] == "Redemption" and rewards]
        if len(rewards) > 1:
            self.p.broke("exactly-once", f"{what} earned {len(rewards)} times at Gameball")
        if sale.acknowledged:
            self._acknowledged(what, row, bool(rewards), "PaymentReward")
            for answer in sale.delivered_answers:
                if not rewards:
                    self.p.broke("truthful", f"{what} answered 200 delivered, not in the ledger")
                elif answer.field("rewardedPoints") != rewards[0]["points"]:
                    self.p.broke(
                        "truthful",
                        f"{what} answered rewardedPoints {answer.field('rewardedPoints')}, "
                        f"Gameball rewarded {rewards[0]['points']}",
                    )
                told = answer.field("redeemedPoints")
                if told and not any(e["points"] == told for e in redemptions):
                    self.p.broke(
                        "truthful",
                        f"{what} answered redeemedPoints {told}, but the ledger has "
                        f"{[e['points'] for e in redemptions] or 'no redemption'} for it",
                    )
        elif rewards:
            told = ", ".join(a.short() for a in sale.answers)
            self.p.broke(
                "truthful",
                f"{what} was refused ({told}), but Gameball recorded "
                f"{[e['type'] for e in entries]} for it",
            )
        self._burned(sale, row, redemptions, what)

    def _acknowledged(self, what: str, row: dict[str, Any] | None, landed: bool, kind: str) -> None:
        if row is None:
            self.p.broke("exactly-once", f"{what} was acknowledged but has no outbox row")
        elif row["state"] == "delivered" and not landed:
            self.p.broke(
                "exactly-once",
                f"{what} is delivered (outcome {row['outcome']!r}, {row['lastCode']}: "
                f"{row['lastError']}), but Gameball has no {kind} for it",
            )
        elif row["state"] in CLOSED and not row["lastError"]:
            self.p.broke("exactly-once", f"{what} is {row['state']} without a reason")
        elif row["state"] == "dead" and row["lastCode"] in ALREADY_EXISTS and landed:
            # Nobody else uses the POS's ids here: "already exists" was this row's own landing.
            self.p.broke(
                "exactly-once",
                f"{what} reached Gameball, yet its row is dead as 'already exists' "
                f"({row['lastCode']}: {row['lastError']}): an earlier send of it landed",
            )

    def _burned(
        self,
        sale: Sale,
        row: dict[str, Any] | None,
        redemptions: list[dict[str, Any]],
        what: str,
    ) -> None:
        hold = self.model.holds.get(sale.hold or "")
        outcome = row["outcome"] if row else None
        if redemptions:
            points = [e["points"] for e in redemptions]
            if len(redemptions) > 1:
                self.p.broke("exactly-once", f"{what} redeemed {points} points at Gameball")
            if sale.hold is None or hold is None:
                self.p.broke(
                    "own-points",
                    f"{what} named hold {sale.hold}, which nobody made, yet Gameball redeemed "
                    f"{points} points of {sale.customer} for it",
                )
            elif hold.customer != sale.customer:
                self.p.broke(
                    "ownership",
                    f"{what} named hold {hold.reference} of {hold.customer}, and Gameball took "
                    f"{points} points from {sale.customer} for it (outcome {outcome!r}): "
                    f"{sale.customer}'s checkout never held them",
                )
            elif points[0] != hold.points:
                self.p.broke(
                    "own-points",
                    f"{what} redeemed {points[0]} points for hold {hold.reference} of "
                    f"{hold.points}",
                )
            if outcome == "redemption_failed":
                self.p.broke("truthful", f"{what} is flagged redemption_failed, yet redeemed")
        elif sale.hold is not None and row is not None and row["state"] == "delivered":
            if outcome != "redemption_failed":
                self.p.broke(
                    "truthful",
                    f"{what} named hold {sale.hold} but was delivered without its redemption, "
                    f"outcome {outcome!r}: finance is not told (redemption_failed is due)",
                )
        if outcome == "reheld" and not redemptions:
            self.p.broke("truthful", f"{what} is 'reheld' but redeemed nothing")

    def _one_discount_per_hold(self) -> None:
        for hold in self.model.holds.values():
            burners = [
                pid
                for pid, sale in self.model.payments.items()
                if sale.hold == hold.reference
                and sale.customer == hold.customer
                and pid in self.rewarded
                and any(e["type"] == "Redemption" for e in self.by_tx.get(pid, []))
            ]
            if len(burners) + hold.redeemed > 1:
                self.p.broke(
                    "hold-state",
                    f"hold {hold.reference} ({hold.points} points, checkout {hold.checkout}) "
                    f"gave {len(burners) + hold.redeemed} discounts: redeemed by its checkout "
                    f"{hold.redeemed}, by payments {burners}",
                )

    # --- refunds and releases -----------------------------------------------------------------

    def _refund(self, sale: Sale, waited: set[str]) -> None:
        rid, customer = sale.sale_id, sale.customer
        what = f"refund {rid} of payment {sale.payment_id} ({customer})"
        row = self.rows.get(("refund", rid))
        entries = self.by_tx.get(rid, [])
        cancels = [e for e in entries if e["type"] == "Cancel"]
        backs = [e for e in entries if e["type"] == "Refund"]
        if len(cancels) > 1 or len(backs) > 1:
            self.p.broke("exactly-once", f"{what} applied {len(cancels)} times at Gameball")
        if not sale.acknowledged:
            if entries:
                told = ", ".join(a.short() for a in sale.answers)
                self.p.broke("truthful", f"{what} was refused ({told}), yet Gameball applied it")
            return
        self._acknowledged(what, row, bool(cancels), "Cancel")
        for _ in sale.delivered_answers:
            if not cancels:
                self.p.broke("truthful", f"{what} answered 200 delivered, not in the ledger")
        payment_landed = any(
            e["type"] == "PaymentReward" and e["customerId"] == customer
            for e in self.by_tx.get(sale.payment_id or "", [])
        )
        payment_row = self.rows.get(("payment", sale.payment_id or ""))
        stored_first = payment_row is not None and row is not None and payment_row["id"] < row["id"]
        gave_up = (
            row is not None and row["state"] == "dead" and row["lastCode"] == REFUND_BEFORE_PAYMENT
        )
        if gave_up and payment_landed and (stored_first or rid in waited):
            self.p.broke(
                "exactly-once",
                f"{what} was dead-lettered as 'payment not found' (9005), but its payment was "
                "stored here and reached Gameball: the refund was not sent after its payment",
            )

    def _releases(self) -> None:
        for reference, answers in self.model.releases.items():
            if not any(a.ok for a in answers):
                continue
            row = self.rows.get(("release", reference))
            if row is None:
                self.p.broke("exactly-once", f"release of {reference} acknowledged, no row")
            elif row["state"] in CLOSED and not row["lastError"]:
                self.p.broke("exactly-once", f"release of {reference} {row['state']}, no reason")

    # --- order per customer -------------------------------------------------------------------

    def _order(self) -> None:
        """Each customer's payments reach Gameball in the order they were stored here."""
        arrived: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for entry in self.snap.ledger:
            tx = str(entry["transactionId"])
            row = self.rows.get(("payment", tx))
            sale = self.model.payments.get(tx)
            if entry["type"] == "PaymentReward" and row is not None and sale is not None:
                arrived[entry["customerId"]].append((row["id"], tx))
        for customer, order in arrived.items():
            if order != sorted(order):
                self.p.broke(
                    "order",
                    f"{customer}'s payments reached Gameball as {[tx for _, tx in order]}, "
                    f"but were stored as {[tx for _, tx in sorted(order)]}",
                )

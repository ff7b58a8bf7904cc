"""The offline-redemption suite's verdict, from the simulator's ledger, the sidecar's outbox and
its status page, against what the tills were told: each offline hold burned once or recorded
redemption_failed with its exact points and value, none over a cap, none burned twice, every
sale landed once, and the exposure the status page shows equal to what the rows say."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from scripts.chaos_suites.offline_tills import Held, Ledger
from sidecar.simulator import SimulatorServer

CENT = 0.005
HOLD = "/integrations/transactions/hold"


@dataclass(frozen=True)
class Caps:
    per_checkout: int
    share: float
    per_customer: int
    per_terminal: int


@dataclass
class Result:
    burned: int = 0
    failed: int = 0
    released: int = 0
    outstanding: int = 0  # offline holds walked away from: on the books until they lapse
    reholds: int = 0  # holds made at Gameball for offline holds, at replay
    orphans: int = 0  # ... that no sale named and nobody released (they lapse at Gameball)
    exposure: str = ""
    over_cap: list[str] = field(default_factory=list)
    double_burn: list[str] = field(default_factory=list)
    sales_lost: list[str] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    exposure_mismatch: list[str] = field(default_factory=list)


def _row_key(row: dict[str, Any]) -> tuple[str, str]:
    field_of = {"payment": "paymentId", "order": "orderId", "redeem": "transactionId"}
    return row["kind"], str(row.get(field_of.get(row["kind"], "id")))


def settle(
    simulator: SimulatorServer,
    ledger: Ledger,
    rows: list[dict[str, Any]],
    status: dict[str, Any],
    balances: dict[str, float],
    caps: Caps,
) -> Result:
    result = Result()
    entries = simulator.sim.ledger()
    redeemed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        if entry["type"] == "Redemption":
            redeemed[str(entry.get("transactionId"))].append(entry)
    by_key = {_row_key(row): row for row in rows}
    burned_points: Counter[str] = Counter()
    absorbed, lapsing = [0.0, 0.0], [0.0, 0.0]
    for held in ledger.held.values():
        if held.released:
            result.released += 1
            continue
        key = ("redeem", held.redeem_id) if held.redeem_id else held.sale
        if key is None:
            result.outstanding += 1
            lapsing = [lapsing[0] + held.points, lapsing[1] + held.amount]
            continue
        row, landed = by_key.get(key), redeemed.get(key[1], [])
        what = f"offline hold {held.reference} of {held.customer} ({held.points} points) for {key}"
        if row is None or row["state"] != "delivered":
            result.unsettled.append(f"{what}: its row is {row and row['state']}")
        elif landed:
            if len(landed) > 1 or landed[0]["points"] != held.points:
                points = [e["points"] for e in landed]
                result.double_burn.append(f"{what} was redeemed {points} at Gameball")
            elif row["outcome"] == "redemption_failed" and row["absorbedPoints"]:
                result.double_burn.append(f"{what}: redeemed, yet written off as absorbed")
            else:
                result.burned += 1
                burned_points[held.customer] += held.points
        elif _written_off(row, held):
            result.failed += 1
            absorbed = [absorbed[0] + held.points, absorbed[1] + held.amount]
        else:
            result.unsettled.append(
                f"{what}: nothing redeemed, but the row is {row['outcome']!r} with absorbed "
                f"{row['absorbedPoints']}/{row['absorbedValue']} (due {held.points}/{held.amount})"
            )
    _no_double_burn(entries, burned_points, result)
    _within_caps(ledger, balances, caps, result)
    for sale_id in ledger.sales:
        rewards = [e for e in entries if e.get("transactionId") == sale_id]
        if sum(1 for e in rewards if e["type"] == "PaymentReward") != 1:
            result.sales_lost.append(f"sale {sale_id}: {[e['type'] for e in rewards]} at Gameball")
    _exposure(status, absorbed, lapsing, result)
    _reholds(simulator.sim.requests, result)
    return result


def _reholds(journal: list[dict[str, Any]], result: Result) -> None:
    """Re-holds whose answer was lost (a kill, a cut connection) are made again: the first one
    then locks the customer's points at Gameball until it lapses (no API lists holds)."""
    made: set[str] = set()
    named: set[str] = set()
    for entry in journal:
        body, answer = entry.get("json"), entry.get("response")
        if entry["path"].endswith(HOLD) and entry["method"] == "POST":
            if isinstance(answer, dict) and isinstance(answer.get("holdReference"), str):
                made.add(answer["holdReference"])
            elif entry["status"] is None:
                result.orphans += 1  # made, its answer never heard: nobody knows the reference
        elif isinstance(body, dict) and isinstance(body.get("redemption"), dict):
            named.add(str(body["redemption"].get("pointsHoldReference")))
        elif entry["method"] == "DELETE" and HOLD in entry["path"]:
            named.add(entry["path"].rsplit("/", 1)[-1])
    result.reholds = len(made) + result.orphans
    result.orphans += len(made - named)


def _written_off(row: dict[str, Any], held: Held) -> bool:
    return bool(
        row["outcome"] == "redemption_failed"
        and row["absorbedPoints"] == held.points
        and abs((row["absorbedValue"] or 0) - held.amount) <= CENT
    )


def _no_double_burn(entries: list[dict[str, Any]], burned: Counter[str], result: Result) -> None:
    """Every point this till redeemed at Gameball is an offline hold's, once."""
    taken: Counter[str] = Counter()
    for entry in entries:
        if entry["type"] == "Redemption" and not str(entry.get("transactionId")).startswith(
            "elsewhere-"
        ):
            taken[entry["customerId"]] += entry["points"]
    for customer, points in taken.items():
        if points > burned[customer]:
            result.double_burn.append(
                f"{customer}: {points} points redeemed at Gameball by this till, but its offline "
                f"holds burned account for {burned[customer]}"
            )


def _within_caps(ledger: Ledger, balances: dict[str, float], caps: Caps, result: Result) -> None:
    spent: Counter[str] = Counter()
    for held in ledger.held.values():
        if held.points > caps.per_checkout:
            result.over_cap.append(f"{held.reference}: {held.points} points in one checkout")
        if not held.released:
            spent[held.customer] += held.points
    for customer, points in spent.items():
        if points > caps.per_customer:
            result.over_cap.append(f"{customer}: {points} points offline in a day")
        # Gameball was down the whole time: the balance read before is the last known one.
        if points > caps.share * balances.get(customer, 0) + 1e-6:
            result.over_cap.append(
                f"{customer}: {points} points offline against a last known balance of "
                f"{balances.get(customer)} (share {caps.share:g})"
            )
    if sum(spent.values()) > caps.per_terminal:
        result.over_cap.append(f"the terminal: {sum(spent.values())} points offline in a day")


def _exposure(
    status: dict[str, Any], absorbed: list[float], lapsing: list[float], result: Result
) -> None:
    report = status.get("offlineRedemption") or {}
    shown = (
        float(report.get("absorbedPoints") or 0),
        float(report.get("absorbedValue") or 0),
        float(report.get("outstandingPoints") or 0),
        float(report.get("outstandingValue") or 0),
    )
    due = (*absorbed, *lapsing)
    if any(abs(a - b) > CENT for a, b in zip(shown, due, strict=True)):
        result.exposure_mismatch.append(
            f"status shows absorbed {shown[0]:g}/{shown[1]:.2f} outstanding {shown[2]:g}/"
            f"{shown[3]:.2f}; the rows say {due[0]:g}/{due[1]:.2f} and {due[2]:g}/{due[3]:.2f}"
        )
    points, value = shown[0] + shown[2], shown[1] + shown[3]
    result.exposure = (
        f"{points:g}pts/{value:.2f}(absorbed={shown[0]:g}pts/{shown[1]:.2f},"
        f"outstanding={shown[2]:g}pts/{shown[3]:.2f})"
    )

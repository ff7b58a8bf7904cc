"""The simulator's ledger rules without HTTP, on an injected clock."""

from __future__ import annotations

import msgspec
import pytest

from sidecar.simulator import Simulator
from sidecar.simulator.bodies import HoldPoints, Refund, TrackPayment
from sidecar.simulator.errors import GameballError
from sidecar.simulator.rules import Programme


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_728_640_000.0

    def __call__(self) -> float:
        return self.now


def track(sim: Simulator, payment_id: str, total_paid: float, **extra: object) -> dict[str, object]:
    body = {
        "customerId": "cust-1001",
        "paymentId": payment_id,
        "paymentDate": f"2024-10-11T10:00:{len(sim.ledger()):02d}Z",
        "totalPaid": total_paid,
        **extra,
    }
    return sim.state.track_payment(msgspec.convert(body, TrackPayment))


def refund(sim: Simulator, refund_id: str, reverse_id: str, **extra: object) -> dict[str, object]:
    body = {
        "customerId": "cust-1001",
        "refundTransactionId": refund_id,
        "reverseTransactionId": reverse_id,
        "transactionTime": f"2024-10-12T10:00:{len(sim.ledger()):02d}Z",
        **extra,
    }
    return sim.state.refund(msgspec.convert(body, Refund))


def test_refund_of_pending_points_takes_them_from_pending_not_available() -> None:
    sim = Simulator(clock=FakeClock())
    track(sim, "p", 100, cashbackConfigurations={"returnWindow": 7})

    refund(sim, "r", "p", refundAmount=40)

    balance = sim.state.balance("cust-1001")
    assert (balance["pendingPoints"], balance["availablePointsBalance"]) == (60, 500)


def test_refund_by_line_items_and_overshoot_is_an_invalid_value() -> None:
    sim = Simulator(clock=FakeClock())
    track(sim, "p", 100)

    answer = refund(sim, "r1", "p", lineItems=[{"price": 15, "quantity": 2}])
    with pytest.raises(GameballError) as overshoot:
        refund(sim, "r2", "p", refundAmount=71)

    assert (answer["refundAmount"], answer["refundEquivalentPoints"]) == (30, 30)
    assert (overshoot.value.code, overshoot.value.status) == (3003, 422)


def test_ledger_rows_carry_balance_before_and_after() -> None:
    sim = Simulator(clock=FakeClock())

    track(sim, "p1", 25)
    track(sim, "p2", 10)

    rows = [(r["pointsBalanceBefore"], r["pointsBalanceAfter"]) for r in sim.ledger()]
    assert rows == [(500, 525), (525, 535)]


def test_hold_expiry_follows_the_injected_clock_and_ttl() -> None:
    clock = FakeClock()
    sim = Simulator(clock=clock, hold_ttl_seconds=60)
    body = {
        "customerId": "cust-1001",
        "transactionTime": "2024-10-11T10:00:00Z",
        "pointsToHold": 50,
    }
    reference = sim.state.place_hold(msgspec.convert(body, HoldPoints))["holdReference"]

    clock.now += 59
    before = sim.state.get_hold(str(reference))["state"]
    clock.now += 1
    after = sim.state.get_hold(str(reference))["state"]

    assert (before, after) == ("active", "expired")
    assert sim.state.balance("cust-1001")["availablePointsBalance"] == 500


def test_seeding_without_demo_starts_empty_and_tier_names_are_checked() -> None:
    sim = Simulator(seed_demo=False)

    sim.seed_customer("c", points=10, tier="silver")

    assert sim.state.accounts.tier("c").name == "Silver"
    with pytest.raises(GameballError):
        sim.state.balance("cust-1001")
    with pytest.raises(ValueError, match="unknown tier"):
        sim.seed_customer("d", tier="Platinum")


def test_refund_of_expiring_points_takes_them_from_that_lot_first() -> None:
    clock = FakeClock()
    sim = Simulator(clock=clock, programme=Programme(points_lifetime_days=30))
    track(sim, "p-old", 40)
    clock.now += 86_400
    track(sim, "p-new", 60)

    refund(sim, "r", "p-new", refundAmount=60)

    balance = sim.state.balance("cust-1001")
    assert (balance["totalPointsBalance"], balance["nextExpiringPointsAmount"]) == (540, 40)
    clock.now += 30 * 86_400
    assert sim.state.balance("cust-1001")["totalPointsBalance"] == 500


def test_spending_takes_the_soonest_expiring_points_before_the_lasting_ones() -> None:
    clock = FakeClock()
    sim = Simulator(clock=clock, programme=Programme(points_lifetime_days=10))
    track(sim, "p", 100)
    body = {
        "customerId": "cust-1001",
        "transactionTime": "2024-10-11T11:00:00Z",
        "pointsToHold": 30,
    }
    reference = str(sim.state.place_hold(msgspec.convert(body, HoldPoints))["holdReference"])
    paid = {"pointsHoldReference": reference}

    track(sim, "p-burn", 0, redemption=paid)

    balance = sim.state.balance("cust-1001")
    assert (balance["totalPointsBalance"], balance["nextExpiringPointsAmount"]) == (570, 70)

"""Refunds of orders over a real socket (by productId and quantity, by amount, in full), and a
property: no sequence of refunds takes back more than an order earned, or leaves any of it."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.bodies import Refund
from sidecar.simulator.errors import GameballError
from sidecar.simulator.retail_bodies import TrackOrder
from tests.support.clients import GameballClient
from tests.support.gameball import BOTTLES, MATS, ORDERS, balance, expect_error, hold, order, when
from tests.support.spec import validate_request, validate_response

REFUND = "/integrations/transactions/refund"


def refund(reverse_id: str, refund_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "customerId": "cust-1001",
        "refundTransactionId": refund_id,
        "reverseTransactionId": reverse_id,
        "transactionTime": when(),
    }
    return body | extra


async def test_refund_by_product_takes_back_its_campaign_points_as_gameballs_guide_shows(
    simulator_client: GameballClient,
) -> None:
    # The guide's case 4: 80 points earned; returning 2 mats takes back 20 base + 20 campaign.
    await simulator_client.post(
        ORDERS, order("cust-1001", "ord-lisa", 40, lineItems=[MATS, BOTTLES])
    )
    body = refund("ord-lisa", "ref-mats", lineItems=[{"productId": "mat", "quantity": 2}])
    validate_request("POST", REFUND, body)

    status, answer = await simulator_client.post(REFUND, body)

    assert status == 200
    validate_response("POST", REFUND, 200, answer)
    assert (answer["refundAmount"], answer["refundEquivalentPoints"]) == (20, 40)
    assert (await balance(simulator_client, "cust-1001"))["totalPointsBalance"] == 540


async def test_refund_of_every_unit_left_is_a_full_refund_then_9001(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    # Paid 45: 40 of goods and 5 of shipping; the last units back close the order.
    await simulator_client.post(
        ORDERS, order("cust-1001", "ord-all", 45, totalShipping=5, lineItems=[MATS, BOTTLES])
    )
    await simulator_client.post(
        REFUND, refund("ord-all", "ref-a1", lineItems=[{"productId": "mat", "quantity": 1}])
    )

    status, last = await simulator_client.post(
        REFUND,
        refund("ord-all", "ref-a2", lineItems=[{"productId": "mat"}, {"productId": "bottle"}]),
    )

    assert status == 200
    assert last["refundAmount"] == 35  # everything left, shipping included
    assert (await balance(simulator_client, "cust-1001"))["totalPointsBalance"] == 500
    cancelled = [r["points"] for r in simulator.sim.ledger("cust-1001") if r["type"] == "Cancel"]
    assert sum(cancelled) == 45 + 40
    await expect_error(
        simulator_client, "POST", REFUND, refund("ord-all", "ref-a3", refundAmount=1), 422, 9001
    )


async def test_refund_more_units_than_bought_or_an_unknown_product_is_3003(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post(ORDERS, order("cust-1001", "ord-q", 40, lineItems=[MATS, BOTTLES]))
    await simulator_client.post(
        REFUND, refund("ord-q", "ref-q1", lineItems=[{"productId": "mat", "quantity": 2}])
    )
    cases = [
        [{"productId": "mat", "quantity": 2}],  # only 1 left
        [{"productId": "mat", "quantity": 1}, {"productId": "mat", "quantity": 1}],
        [{"productId": "bottle", "quantity": 0.5}, {"productId": "scarf", "quantity": 1}],
    ]
    before = simulator.sim.ledger("cust-1001")

    for index, lines in enumerate(cases):
        body = refund("ord-q", f"ref-bad-{index}", lineItems=lines)
        answer = await expect_error(simulator_client, "POST", REFUND, body, 422, 3003)
        assert "lineItems[" in answer["message"]

    assert simulator.sim.ledger("cust-1001") == before
    status, _ = await simulator_client.post(
        REFUND, refund("ord-q", "ref-bad-0", lineItems=[{"productId": "mat", "quantity": 1}])
    )
    assert status == 200  # a refused refund did not claim its id


async def test_refund_of_an_order_by_amount_alone_keeps_campaign_points(
    simulator_client: GameballClient,
) -> None:
    # The guide's case 3: without line items only the cashback share comes back.
    await simulator_client.post(
        ORDERS, order("cust-1001", "ord-amt", 40, lineItems=[MATS, BOTTLES])
    )

    _, answer = await simulator_client.post(REFUND, refund("ord-amt", "ref-amt", refundAmount=10))

    assert (answer["refundAmount"], answer["refundEquivalentPoints"]) == (10, 10)
    assert (await balance(simulator_client, "cust-1001"))["totalPointsBalance"] == 570


async def test_refund_of_an_order_gives_back_the_redeemed_points_in_proportion(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await hold(simulator_client, "cust-1001", 100)
    await simulator_client.post(
        ORDERS,
        order(
            "cust-1001",
            "ord-red",
            40,
            lineItems=[{"productId": "a", "quantity": 4, "price": 10}],
            redemption={"pointsHoldReference": reference},
        ),
    )

    _, half = await simulator_client.post(
        REFUND, refund("ord-red", "ref-r1", lineItems=[{"productId": "a", "quantity": 2}])
    )
    _, rest = await simulator_client.post(REFUND, refund("ord-red", "ref-r2"))

    assert (half["refundAmount"], half["refundEquivalentPoints"]) == (20, 20)
    assert (rest["refundAmount"], rest["refundEquivalentPoints"]) == (20, 20)
    given_back = [r["points"] for r in simulator.sim.ledger("cust-1001") if r["type"] == "Refund"]
    assert given_back == [50, 50]
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 500


async def test_refund_of_another_customers_order_is_9005(simulator_client: GameballClient) -> None:
    await simulator_client.post(ORDERS, order("cust-2002", "ord-theirs", 10))

    await expect_error(simulator_client, "POST", REFUND, refund("ord-theirs", "ref-x"), 404, 9005)


# A property over the ledger without HTTP: any interleaving of refunds of one order.
class OrderRefunds(RuleBasedStateMachine):
    """Refunds by product, by amount and in full, in any order: the points cancelled never
    exceed what the order earned, and once it is closed every earned point is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulator(seed_demo=False, clock=lambda: 1_728_640_000.0)
        self.sim.seed_customer("c", points=0)
        body = {
            "customerId": "c",
            "orderId": "o",
            "orderDate": "2024-10-11T10:00:00Z",
            "totalPaid": 37,
            "lineItems": [
                {"productId": "a", "quantity": 3, "price": 7, "tags": ["promo"]},
                {"productId": "b", "quantity": 2, "price": 9, "discount": 1},
            ],
        }
        self.earned = self.sim.state.track_order(msgspec.convert(body, TrackOrder))[
            "rewardedPoints"
        ]
        self.ids = itertools.count()
        self.closed = False

    def _refund(self, **extra: Any) -> None:
        body = {
            "customerId": "c",
            "refundTransactionId": f"r{next(self.ids)}",
            "reverseTransactionId": "o",
            "transactionTime": f"2024-10-12T10:00:00.{next(self.ids):03d}Z",
            **extra,
        }
        try:
            self.sim.state.refund(msgspec.convert(body, Refund))
        except GameballError as exc:
            assert exc.code in (3003, 9001), exc.message
            assert exc.code != 9001 or self.closed
        else:
            assert not self.closed
            self.closed = self.sim.state.books.reversible["o"].closed

    @rule(product=st.sampled_from(["a", "b"]), quantity=st.sampled_from([None, 0.5, 1, 2, 3]))
    def by_product(self, product: str, quantity: float | None) -> None:
        line: dict[str, Any] = {"productId": product}
        if quantity is not None:
            line["quantity"] = quantity
        self._refund(lineItems=[line])

    @rule(amount=st.sampled_from([0.5, 3, 10, 40]))
    def by_amount(self, amount: float) -> None:
        self._refund(refundAmount=amount)

    @rule()
    def in_full(self) -> None:
        self._refund()

    @invariant()
    def never_more_than_earned(self) -> None:
        left = self.sim.state.balance("c")["totalPointsBalance"]
        assert 0 <= left <= self.earned
        if self.closed:
            assert left == 0


OrderRefunds.TestCase.settings = settings(max_examples=60, stateful_step_count=8, deadline=None)
test_simulator_refunds_never_take_back_more_than_an_order_earned = OrderRefunds.TestCase

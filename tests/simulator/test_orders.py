"""Track Order and its quote over a real socket: points from totalPaid and promo lines, holds and
coupon locks burned, one id namespace with payments, and the spec's answers."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import GameballClient
from tests.support.gameball import (
    BOTTLES,
    MATS,
    MERCHANT,
    ORDERS,
    balance,
    expect_error,
    hold,
    order,
    payment,
)
from tests.support.spec import validate_request, validate_response

QUOTE = "/integrations/orders/cashback"
# Gameball's refund guide's basket: 3 yoga mats at 10 and 2 bottles at 5, both in a campaign.


async def lock(client: GameballClient, customer_id: str, *codes: str) -> str:
    body = {"customerId": customer_id, "coupons": list(codes), "lock": True}
    status, answer = await client.post("/integrations/coupons/validate", body)
    assert status == 200, answer
    return str(answer["lockReference"])


async def test_order_earns_on_total_paid_with_tax_and_answers_per_line(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    # Gameball's POS guide: items 300, tax 15 and shipping 10 inside totalPaid, all of it earns.
    body = order(
        "cust-1001",
        "ord-1",
        325,
        totalPrice=325,
        totalTax=15,
        totalShipping=10,
        totalDiscount=0,
        lineItems=[{"productId": "p-1", "quantity": 2, "price": 150, "taxes": 15}],
        merchant=MERCHANT,
        channel="pos",
        cartId="cart-9",
    )
    validate_request("POST", ORDERS, body)

    status, answer = await simulator_client.post(ORDERS, body)

    assert status == 200
    validate_response("POST", ORDERS, 200, answer)
    assert (answer["rewardedPoints"], answer["redeemedPoints"]) == (325, 0)
    assert answer["lineItems"] == [
        {"productId": "p-1", "quantity": 2, "decimalPoints": 300.0, "points": 300, "score": 300}
    ]
    (row,) = simulator.sim.ledger("cust-1001")
    assert (row["transactionId"], row["type"], row["points"], row["amount"]) == (
        "ord-1",
        "PaymentReward",
        325,
        325,
    )
    assert (row["branchName"], row["channel"]) == ("Main", "pos")
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 825


async def test_order_promo_lines_earn_the_campaign_on_what_was_paid_for_them(
    simulator_client: GameballClient,
) -> None:
    # Lines worth 40 (30 of them promo); an order-level discount leaves 20 paid: every line
    # earns on half its value, so the campaign doubles 15, not 30.
    lines = [
        {"productId": "promo", "quantity": 3, "price": 10, "tags": ["promo"]},
        {"productId": "plain", "quantity": 1, "price": 10},
    ]

    _, discounted = await simulator_client.post(
        ORDERS, order("cust-1001", "ord-cap", 20, totalDiscount=20, lineItems=lines)
    )
    _, gold = await simulator_client.post(
        ORDERS, order("cust-2002", "ord-gold", 40, lineItems=lines)
    )

    assert discounted["rewardedPoints"] == 20 + 15
    assert [line["points"] for line in discounted["lineItems"]] == [30, 5]
    assert gold["rewardedPoints"] == 2 * 40 + 2 * 30  # Gold: 2 points per 1, promo doubled


async def test_order_line_discount_and_a_free_line_earn_nothing_extra(
    simulator_client: GameballClient,
) -> None:
    # Gameball's example 8a: a promo line given away (discount covers it) earns nothing.
    lines = [
        {"productId": "free", "quantity": 2, "price": 150, "discount": 345, "tags": ["promo"]},
        {"productId": "paid", "quantity": 1, "price": 200},
    ]

    _, answer = await simulator_client.post(
        ORDERS, order("cust-1001", "ord-8a", 230, lineItems=lines)
    )

    assert answer["rewardedPoints"] == 230
    assert [line["points"] for line in answer["lineItems"]] == [0, 200]


async def test_order_quote_matches_the_order_has_no_side_effect_and_needs_no_secret(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    quote_body = {
        "customerId": "cust-3003",
        "totalPaid": 40,
        "totalDiscount": 0,
        "totalShipping": 0,
        "lineItems": [MATS, BOTTLES],
    }
    validate_request("POST", QUOTE, quote_body)

    status, quote = await simulator_client.call(
        "POST", QUOTE, quote_body, headers={"APIKey": "only-the-key"}
    )
    ledger_after_quote = simulator.sim.ledger()
    _, tracked = await simulator_client.post(
        ORDERS, order("cust-3003", "ord-q", 40, lineItems=[MATS, BOTTLES])
    )

    assert status == 200
    validate_response("POST", QUOTE, 200, quote)
    assert ledger_after_quote == []
    assert quote["totalPoints"] == tracked["rewardedPoints"] == 60 + 60  # Silver 1.5x, promo 2x
    first = quote["lineItems"][0]
    assert (first["productId"], first["quantity"], first["campaignId"]) == ("mat", 3, 501)
    assert first["campaignImpactPoints"] == 45


async def test_order_burns_a_hold_and_a_coupon_lock_in_one_call(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await hold(simulator_client, "cust-1001", 100)
    locked = await lock(simulator_client, "cust-1001", "SAVE10")
    redemption = {
        "pointsHoldReference": reference,
        "couponsLockReference": locked,
        "couponCodes": ["SAVE10"],
    }

    status, answer = await simulator_client.post(
        ORDERS, order("cust-1001", "ord-burn", 80, totalDiscount=20, redemption=redemption)
    )
    _, again = await simulator_client.post(
        "/integrations/coupons/validate", {"customerId": "cust-1001", "coupons": ["SAVE10"]}
    )

    assert (status, answer["redeemedPoints"], answer["rewardedPoints"]) == (200, 100, 80)
    kinds = [(r["type"], r["points"]) for r in simulator.sim.ledger("cust-1001")]
    assert kinds == [("Redemption", 100), ("PaymentReward", 80)]
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 480
    assert again["code"] == 9012  # SAVE10 is one use per customer, now used
    (state,) = [
        lk
        for lk in simulator.sim.state.coupons.snapshot()["locks"]
        if lk["lockReference"] == locked
    ]
    assert state["state"] == "used"


async def test_order_with_an_unusable_hold_is_9006_and_changes_nothing(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    other = await hold(simulator_client, "cust-2002", 10)
    used = await hold(simulator_client, "cust-1001", 10)
    await simulator_client.post(
        ORDERS, order("cust-1001", "ord-use", 1, redemption={"pointsHoldReference": used})
    )
    released = await hold(simulator_client, "cust-1001", 10)
    await simulator_client.delete(f"/integrations/transactions/hold/{released}")
    expired = await hold(simulator_client, "cust-1001", 10)
    simulator.sim.advance_clock(601)

    for index, reference in enumerate(["no-such", other, used, released, expired]):
        body = order(
            "cust-1001", f"ord-bad-{index}", 5, redemption={"pointsHoldReference": reference}
        )
        await expect_error(simulator_client, "POST", ORDERS, body, 404, 9006)

    assert {r["transactionId"] for r in simulator.sim.ledger("cust-1001")} == {"ord-use"}


async def test_order_with_an_unusable_coupon_lock_is_refused_and_burns_nothing(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    others = await lock(simulator_client, "cust-2002", "PCT15")
    mine = await lock(simulator_client, "cust-1001", "SAVE10")
    cases = [
        ({"couponsLockReference": "no-such-lock"}, 404, 4004),
        ({"couponsLockReference": others}, 422, 9009),
        ({"couponsLockReference": mine, "couponCodes": ["PCT15"]}, 422, 9009),
    ]

    for index, (redemption, status, code) in enumerate(cases):
        body = order("cust-1001", f"ord-lock-{index}", 5, redemption=redemption)
        await expect_error(simulator_client, "POST", ORDERS, body, status, code)
    simulator.sim.advance_clock(601)
    expired = order("cust-1001", "ord-lock-late", 5, redemption={"couponsLockReference": mine})
    await expect_error(simulator_client, "POST", ORDERS, expired, 422, 9009)

    assert simulator.sim.ledger("cust-1001") == []
    assert simulator.sim.state.coupons.snapshot()["coupons"][0]["usedBy"] == {}


async def test_order_id_shares_the_namespace_with_payments_and_dates_are_per_customer(
    simulator_client: GameballClient,
) -> None:
    await simulator_client.post("/integrations/payments", payment("cust-1001", "shared-id", 10))
    first = order("cust-1001", "ord-t1", 10)

    await expect_error(
        simulator_client, "POST", ORDERS, order("cust-2002", "shared-id", 10), 422, 9004
    )
    status, _ = await simulator_client.post(ORDERS, first)
    await expect_error(simulator_client, "POST", ORDERS, first, 422, 9004)
    same_time = {**first, "orderId": "ord-t2"}
    await expect_error(simulator_client, "POST", ORDERS, same_time, 422, 9003)
    other_customer, _ = await simulator_client.post(
        ORDERS, {**same_time, "customerId": "cust-2002"}
    )
    reused_by_payment = payment("cust-1001", "ord-t1", 10)

    assert (status, other_customer) == (200, 200)
    await expect_error(
        simulator_client, "POST", "/integrations/payments", reused_by_payment, 422, 9004
    )


async def test_order_creates_an_unknown_customer_and_a_return_window_keeps_points_pending(
    simulator_client: GameballClient,
) -> None:
    body = order("walk-in", "ord-new", 30, cashbackConfigurations={"returnWindow": 14}, guest=True)

    status, answer = await simulator_client.post(ORDERS, body)

    assert (status, answer["rewardedPoints"]) == (200, 30)
    got = await balance(simulator_client, "walk-in")
    assert (got["pendingPoints"], got["availablePointsBalance"]) == (30, 0)

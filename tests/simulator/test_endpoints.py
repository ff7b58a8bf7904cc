"""The simulator's Gameball endpoints over a real socket: spec-shaped answers and real rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.clients import GameballClient
from tests.support.gameball import MERCHANT, balance, expect_error, hold, payment, when
from tests.support.spec import validate_error, validate_request, validate_response


async def test_track_payment_awards_tier_points_and_stores_merchant(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = payment(
        "cust-1001",
        "pay-1",
        120.5,
        paymentDetails=[{"serviceId": "s-1", "amount": 100, "discount": 10}],
        merchant=MERCHANT,
        channel="pos",
    )
    validate_request("POST", "/integrations/payments", body)

    status, answer = await simulator_client.post("/integrations/payments", body)

    assert status == 200
    validate_response("POST", "/integrations/payments", 200, answer)
    assert answer["rewardedPoints"] == 120 and answer["redeemedPoints"] == 0
    assert answer["paymentDetails"] == [
        {"serviceId": "s-1", "decimalPoints": 90.0, "points": 90, "score": 90}
    ]
    (record,) = simulator.sim.ledger("cust-1001")
    assert record["type"] == "PaymentReward" and record["points"] == 120
    assert (record["merchantName"], record["branchName"], record["channel"]) == (
        "Corner Shop",
        "Main",
        "pos",
    )
    assert (record["merchantUniqueId"], record["branchUniqueId"]) == ("m-1", "b-7")
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 620


async def test_track_payment_creates_an_unknown_customer(simulator_client: GameballClient) -> None:
    status, answer = await simulator_client.post(
        "/integrations/payments", payment("new-customer", "pay-new", 30)
    )

    assert (status, answer["rewardedPoints"]) == (200, 30)
    assert (await balance(simulator_client, "new-customer"))["totalPointsBalance"] == 30


async def test_gold_customer_earns_double_and_promo_lines_beat_the_published_rule(
    simulator_client: GameballClient,
) -> None:
    lines = [
        {"serviceId": "promo-1", "amount": 40, "tags": ["Promo"]},
        {"serviceId": "plain", "amount": 60, "category": ["Groceries"]},
    ]
    quote_body = {"customerId": "cust-2002", "totalPaid": 100, "paymentDetails": lines}

    status, quote = await simulator_client.post("/integrations/payments/cashback", quote_body)
    _, paid = await simulator_client.post(
        "/integrations/payments", payment("cust-2002", "pay-gold", 100, paymentDetails=lines)
    )

    assert status == 200
    validate_request("POST", "/integrations/payments/cashback", quote_body)
    validate_response("POST", "/integrations/payments/cashback", 200, quote)
    published_estimate = 100 * 2.0  # Gold's rewardWalletFactor from configurations/cashback
    assert quote["totalPoints"] == paid["rewardedPoints"] == 280 > published_estimate
    assert quote["paymentDetails"][0]["campaignImpactPoints"] == 80
    assert quote["paymentDetails"][1]["campaignId"] is None


async def test_quote_has_no_side_effect_and_needs_no_secret(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    status, answer = await simulator_client.call(
        "POST",
        "/integrations/payments/cashback",
        {"totalPaid": 55.9},
        headers={"APIKey": "only-the-api-key"},
    )

    assert (status, answer["totalPoints"], answer["totalScore"]) == (200, 55, 55)
    assert simulator.sim.ledger() == []


async def test_customers_move_up_tiers_by_lifetime_points(
    simulator_client: GameballClient,
) -> None:
    await simulator_client.post("/integrations/payments", payment("climber", "climb-1", 1000))

    _, answer = await simulator_client.post(
        "/integrations/payments", payment("climber", "climb-2", 100)
    )
    _, rules = await simulator_client.get(
        "/integrations/configurations/cashback", {"customerId": "climber"}
    )

    assert answer["rewardedPoints"] == 150
    assert [rule["tierName"] for rule in rules["tierCashbackRules"]] == ["Silver"]


async def test_hold_reduces_available_points_until_released(
    simulator_client: GameballClient,
) -> None:
    body = {"customerId": "cust-1001", "transactionTime": when(), "pointsToHold": 200}
    validate_request("POST", "/integrations/transactions/hold", body)

    status, answer = await simulator_client.post("/integrations/transactions/hold", body)
    held = await balance(simulator_client, "cust-1001")
    release_status, released = await simulator_client.delete(
        f"/integrations/transactions/hold/{answer['holdReference']}"
    )

    assert status == 200
    validate_response("POST", "/integrations/transactions/hold", 200, answer)
    assert (answer["holdEquivalentPoints"], answer["holdAmount"]) == (200, 20.0)
    assert (held["availablePointsBalance"], held["totalPointsBalance"]) == (300, 500)
    assert release_status == 200
    validate_response("DELETE", "/integrations/transactions/hold/{holdReferenceId}", 200, released)
    assert released["success"] is True
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 500
    await expect_error(
        simulator_client,
        "DELETE",
        f"/integrations/transactions/hold/{answer['holdReference']}",
        None,
        404,
        9006,
    )


@pytest.mark.parametrize(
    ("option", "points"), [({"amountToHold": 12.34}, 124), ({"ruleId": "1"}, 100)]
)
async def test_hold_by_amount_or_rule_converts_through_redemption_factor(
    simulator_client: GameballClient, option: dict[str, Any], points: int
) -> None:
    body = {"customerId": "cust-1001", "transactionTime": when(), **option}

    status, answer = await simulator_client.post("/integrations/transactions/hold", body)

    assert (status, answer["holdEquivalentPoints"]) == (200, points)
    assert answer["holdAmount"] == round(points * 0.1, 2)


async def test_hold_expires_on_the_advanced_clock_and_points_return(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await hold(simulator_client, "cust-1001", 300)
    path = f"/integrations/transactions/hold/{reference}"
    _, active = await simulator_client.get(path)

    simulator.sim.advance_clock(601)
    status, expired = await simulator_client.get(path)

    validate_response("GET", "/integrations/transactions/hold/{holdReferenceId}", 200, active)
    assert active["state"] == "active"
    assert "+" not in active["dateToExpire"] and not active["dateToExpire"].endswith("Z")
    assert datetime.fromisoformat(active["dateToExpire"]) > datetime.now(UTC).replace(tzinfo=None)
    assert (status, expired["state"]) == (200, "expired")
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 500
    await expect_error(simulator_client, "DELETE", path, None, 404, 9006)


async def test_payment_burns_an_active_hold_through_points_hold_reference(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await hold(simulator_client, "cust-1001", 100)
    body = payment("cust-1001", "pay-burn", 50, redemption={"pointsHoldReference": reference})

    status, answer = await simulator_client.post("/integrations/payments", body)
    _, state = await simulator_client.get(f"/integrations/transactions/hold/{reference}")

    assert (status, answer["redeemedPoints"], answer["rewardedPoints"]) == (200, 100, 50)
    assert state["state"] == "used"
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 450
    kinds = [(r["type"], r["direction"], r["points"]) for r in simulator.sim.ledger("cust-1001")]
    assert kinds == [("Redemption", "-", 100), ("PaymentReward", "+", 50)]


async def test_payment_with_unusable_hold_is_9006_and_changes_nothing(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    other = await hold(simulator_client, "cust-2002", 10)
    used = await hold(simulator_client, "cust-1001", 10)
    await simulator_client.post(
        "/integrations/payments",
        payment("cust-1001", "pay-use", 1, redemption={"pointsHoldReference": used}),
    )
    expired = await hold(simulator_client, "cust-1001", 10)
    simulator.sim.advance_clock(700)

    for index, reference in enumerate(["no-such-hold", other, used, expired]):
        body = payment(
            "cust-1001", f"bad-{index}", 5, redemption={"pointsHoldReference": reference}
        )
        await expect_error(simulator_client, "POST", "/integrations/payments", body, 404, 9006)

    assert [r["transactionId"] for r in simulator.sim.ledger("cust-1001")] == ["pay-use"] * 2


@pytest.mark.parametrize(("option", "points"), [({"points": 120}, 120), ({"amount": 7.5}, 75)])
async def test_redeem_deducts_points_and_matches_spec(
    simulator_client: GameballClient, option: dict[str, Any], points: int
) -> None:
    body = {
        "customerId": "cust-1001",
        "transactionId": "red-1",
        "transactionTime": when(),
        **option,
    }
    validate_request("POST", "/integrations/transactions/redeem", body)

    status, answer = await simulator_client.post("/integrations/transactions/redeem", body)

    assert status == 200
    validate_response("POST", "/integrations/transactions/redeem", 200, answer)
    assert answer["redeemEquivalentPoints"] == points
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 500 - points


async def test_redeem_through_hold_reference_uses_the_hold(
    simulator_client: GameballClient,
) -> None:
    reference = await hold(simulator_client, "cust-2002", 400)
    body = {
        "customerId": "cust-2002",
        "transactionId": "red-hold",
        "transactionTime": when(),
        "holdReference": reference,
    }

    status, answer = await simulator_client.post("/integrations/transactions/redeem", body)
    again = {**body, "transactionId": "red-hold-2", "transactionTime": when()}

    assert (status, answer["redeemEquivalentPoints"], answer["redeemAmount"]) == (200, 400, 40.0)
    assert (await balance(simulator_client, "cust-2002"))["totalPointsBalance"] == 1600
    await expect_error(
        simulator_client, "POST", "/integrations/transactions/redeem", again, 404, 9006
    )


async def test_cashback_transaction_rewards_by_rule(simulator_client: GameballClient) -> None:
    body = {
        "customerId": "cust-3003",
        "amount": 40,
        "transactionId": "cb-1",
        "transactionTime": when(),
    }
    validate_request("POST", "/integrations/transactions/cashback", body)

    status, answer = await simulator_client.post("/integrations/transactions/cashback", body)

    assert status == 200
    validate_response("POST", "/integrations/transactions/cashback", 200, answer)
    assert answer["rewardEquivalentPoints"] == 60  # Silver: 1.5 points per 1 money


async def test_refund_partial_then_rest_reverses_points_proportionally(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post("/integrations/payments", payment("cust-1001", "pay-r", 200))
    partial = {
        "customerId": "cust-1001",
        "refundTransactionId": "ref-1",
        "reverseTransactionId": "pay-r",
        "transactionTime": when(),
        "refundAmount": 50,
    }
    validate_request("POST", "/integrations/transactions/refund", partial)

    status, first = await simulator_client.post("/integrations/transactions/refund", partial)
    rest = {**partial, "refundTransactionId": "ref-2", "transactionTime": when()}
    del rest["refundAmount"]
    _, second = await simulator_client.post("/integrations/transactions/refund", rest)

    assert status == 200
    validate_response("POST", "/integrations/transactions/refund", 200, first)
    assert (first["refundAmount"], first["refundEquivalentPoints"]) == (50, 50)
    assert (second["refundAmount"], second["refundEquivalentPoints"]) == (150, 150)
    assert (await balance(simulator_client, "cust-1001"))["totalPointsBalance"] == 500
    third = {**rest, "refundTransactionId": "ref-3", "transactionTime": when()}
    await expect_error(
        simulator_client, "POST", "/integrations/transactions/refund", third, 422, 9001
    )
    cancels = [r for r in simulator.sim.ledger("cust-1001") if r["type"] == "Cancel"]
    assert [(r["transactionId"], r["points"]) for r in cancels] == [("ref-1", 50), ("ref-2", 150)]


async def test_refund_of_a_payment_that_burned_a_hold_returns_the_redeemed_points(
    simulator_client: GameballClient,
) -> None:
    reference = await hold(simulator_client, "cust-1001", 100)
    await simulator_client.post(
        "/integrations/payments",
        payment("cust-1001", "pay-hr", 40, redemption={"pointsHoldReference": reference}),
    )
    body = {
        "customerId": "cust-1001",
        "refundTransactionId": "ref-hr",
        "reverseTransactionId": "pay-hr",
        "transactionTime": when(),
    }

    status, answer = await simulator_client.post("/integrations/transactions/refund", body)

    assert (status, answer["refundEquivalentPoints"]) == (200, 40)
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 500


async def test_refund_of_unknown_transaction_is_9005(simulator_client: GameballClient) -> None:
    body = {
        "customerId": "cust-1001",
        "refundTransactionId": "ref-x",
        "reverseTransactionId": "never-sent",
        "transactionTime": when(),
    }

    await expect_error(
        simulator_client, "POST", "/integrations/transactions/refund", body, 404, 9005
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/integrations/payments", payment("cust-2002", "dup", 10)),
        (
            "/integrations/transactions/redeem",
            {"customerId": "cust-2002", "transactionId": "dup", "points": 1},
        ),
        (
            "/integrations/transactions/cashback",
            {"customerId": "cust-2002", "transactionId": "dup", "amount": 5},
        ),
        (
            "/integrations/transactions/refund",
            {
                "customerId": "cust-1001",
                "refundTransactionId": "dup",
                "reverseTransactionId": "first",
            },
        ),
    ],
)
async def test_any_repeated_id_is_9004_across_kinds(
    simulator_client: GameballClient, path: str, body: dict[str, Any]
) -> None:
    await simulator_client.post("/integrations/payments", payment("cust-1001", "first", 10))
    await simulator_client.post("/integrations/payments", payment("cust-1001", "dup", 10))
    stamped = {**body, "paymentDate" if "paymentId" in body else "transactionTime": when()}

    await expect_error(simulator_client, "POST", path, stamped, 422, 9004)


async def test_same_customer_and_timestamp_is_9003(simulator_client: GameballClient) -> None:
    first = payment("cust-1001", "t-1", 10)
    same_time = {**first, "paymentId": "t-2"}
    other_customer = {**first, "paymentId": "t-3", "customerId": "cust-2002"}

    await simulator_client.post("/integrations/payments", first)
    await expect_error(simulator_client, "POST", "/integrations/payments", same_time, 422, 9003)
    status, _ = await simulator_client.post("/integrations/payments", other_customer)

    assert status == 200


async def test_balance_keeps_return_window_points_pending_until_the_clock_passes(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = payment("cust-1001", "pay-rw", 80, cashbackConfigurations={"returnWindow": 14})
    await simulator_client.post("/integrations/payments", body)

    pending = await balance(simulator_client, "cust-1001")
    _, listed = await simulator_client.get("/integrations/transactions", {"status": "Pending"})
    simulator.sim.advance_clock(14 * 86_400)
    settled = await balance(simulator_client, "cust-1001")

    validate_response("GET", "/integrations/customers/{customerId}/balance", 200, pending)
    assert (pending["pendingPoints"], pending["availablePointsBalance"]) == (80, 500)
    assert pending["totalPointsBalance"] == 580
    assert [row["transactionId"] for row in listed["transactions"]] == ["pay-rw"]
    assert (settled["pendingPoints"], settled["availablePointsBalance"]) == (0, 580)


async def test_unknown_customer_is_7000_for_balance_hold_and_redeem(
    simulator_client: GameballClient,
) -> None:
    hold_body = {"customerId": "ghost", "transactionTime": when(), "pointsToHold": 1}
    redeem_body = {
        "customerId": "ghost",
        "transactionId": "g",
        "transactionTime": when(),
        "points": 1,
    }

    await expect_error(
        simulator_client, "GET", "/integrations/customers/ghost/balance", None, 404, 7000
    )
    await expect_error(
        simulator_client, "POST", "/integrations/transactions/hold", hold_body, 404, 7000
    )
    await expect_error(
        simulator_client, "POST", "/integrations/transactions/redeem", redeem_body, 404, 7000
    )


async def test_not_enough_points_is_9008(simulator_client: GameballClient) -> None:
    hold_body = {"customerId": "cust-1001", "transactionTime": when(), "pointsToHold": 501}
    redeem_body = {
        "customerId": "cust-1001",
        "transactionId": "too-much",
        "transactionTime": when(),
        "amount": 50.01,
    }

    await expect_error(
        simulator_client, "POST", "/integrations/transactions/hold", hold_body, 422, 9008
    )
    await expect_error(
        simulator_client, "POST", "/integrations/transactions/redeem", redeem_body, 422, 9008
    )


async def test_configurations_match_spec(simulator_client: GameballClient) -> None:
    _, cashback = await simulator_client.get("/integrations/configurations/cashback")
    _, redemption = await simulator_client.get("/integrations/configurations/redemption")

    validate_response("GET", "/integrations/configurations/cashback", 200, cashback)
    validate_response("GET", "/integrations/configurations/redemption", 200, redemption)
    factors = {r["tierName"]: r["rewardWalletFactor"] for r in cashback["tierCashbackRules"]}
    assert factors == {"Bronze": 1.0, "Silver": 1.5, "Gold": 2.0}
    assert redemption["redemptionFactor"] == 0.1


async def test_list_transactions_filters_and_pages_in_arrival_order(
    simulator_client: GameballClient,
) -> None:
    for index in range(3):
        await simulator_client.post(
            "/integrations/payments", payment("cust-3003", f"l-{index}", 10)
        )
    await simulator_client.post(
        "/integrations/transactions/redeem",
        {"customerId": "cust-3003", "transactionId": "l-r", "transactionTime": when(), "points": 5},
    )

    _, first = await simulator_client.get(
        "/integrations/transactions", {"customerId": "cust-3003", "limit": "2"}
    )
    last_id = first["transactions"][-1]["gameballTransactionId"]
    _, rest = await simulator_client.get(
        "/integrations/transactions", {"customerId": "cust-3003", "startAfter": last_id}
    )
    _, minus = await simulator_client.get("/integrations/transactions", {"direction": "-"})

    validate_response("GET", "/integrations/transactions", 200, first)
    assert [r["transactionId"] for r in first["transactions"]] == ["l-0", "l-1"]
    assert (first["count"], first["hasMore"]) == (2, True)
    assert [r["transactionId"] for r in rest["transactions"]] == ["l-2", "l-r"]
    assert rest["hasMore"] is False
    assert [r["transactionId"] for r in minus["transactions"]] == ["l-r"]


OUT_OF_SPEC = pytest.mark.spec_violations_expected
PAID_AT = '"paymentDate": "2024-10-11T10:00:00Z"'


@pytest.mark.parametrize(
    ("raw", "status", "code", "field"),
    [
        pytest.param(
            f'{{"paymentId": "p", {PAID_AT}, "totalPaid": 1}}'.encode(),
            400,
            3001,
            "customerId",
            marks=OUT_OF_SPEC,
        ),
        pytest.param(
            b'{"customerId": "c", "paymentId": "p", "paymentDate": "x", "totalPaid": "1"}',
            400,
            3002,
            "totalPaid",
            marks=OUT_OF_SPEC,
        ),
        # Within the spec (it sets no minimum) but refused by Gameball's own rules.
        (
            f'{{"customerId": "c", "paymentId": "p", {PAID_AT}, "totalPaid": -1}}'.encode(),
            422,
            3003,
            "totalPaid",
        ),
        pytest.param(
            b'{"customerId": "c", "paymentId": "p", "paymentDate": "yesterday", "totalPaid": 1}',
            400,
            3003,
            "paymentDate",
            marks=OUT_OF_SPEC,
        ),
        pytest.param(
            f'{{"customerId": "c", "paymentId": "p", {PAID_AT}, "totalPaid": 1, '
            '"channel": "fax"}'.encode(),
            400,
            3003,
            "channel",
            marks=OUT_OF_SPEC,
        ),
        pytest.param(b'{"customerId": "c", ', 400, 3000, "body", marks=OUT_OF_SPEC),
    ],
)
async def test_payload_errors_name_the_field(
    simulator_client: GameballClient, raw: bytes, status: int, code: int, field: str
) -> None:
    url = simulator_client.server.base_url + "/integrations/payments"
    headers = {**simulator_client.headers, "Content-Type": "application/json"}

    async with simulator_client.session.post(url, data=raw, headers=headers) as response:
        answer = await response.json()

    assert (response.status, answer["code"]) == (status, code)
    validate_error(answer)
    assert field in answer["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"customerId": "cust-1001"},
        {"customerId": "cust-1001", "pointsToHold": 5, "amountToHold": 1},
    ],
)
async def test_hold_needs_exactly_one_of_points_amount_rule(
    simulator_client: GameballClient, body: dict[str, Any]
) -> None:
    status, answer = await simulator_client.post(
        "/integrations/transactions/hold", {**body, "transactionTime": when()}
    )

    assert status in (400, 422) and 3000 <= answer["code"] < 4000
    validate_error(answer)


async def test_overlapping_calls_for_one_customer_get_2001(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    simulator.sim.latency_seconds = 0.2
    first = simulator_client.post("/integrations/payments", payment("cust-1001", "o-1", 10))
    second = simulator_client.post("/integrations/payments", payment("cust-1001", "o-2", 10))
    other = simulator_client.post("/integrations/payments", payment("cust-2002", "o-3", 10))

    results = await asyncio.gather(first, second, other)

    statuses = sorted((status, body.get("code")) for status, body in results)
    assert statuses == [(200, None), (200, None), (422, 2001)]
    validate_error(next(body for status, body in results if status == 422))
    assert len(simulator.sim.ledger()) == 2


async def test_auth_codes_1000_and_1001(simulator_client: GameballClient) -> None:
    path = "/integrations/customers/cust-1001/balance"
    cases = [({}, 1000), ({"APIKey": ""}, 1000), ({"APIKey": "k"}, 1001)]

    for headers, code in cases:
        status, answer = await simulator_client.call("GET", path, headers=headers)
        assert (status, answer["code"]) == (401, code)
        validate_error(answer)
    status, _ = await simulator_client.call("GET", path, headers={"apikey": "k", "secretkey": "s"})

    assert status == 200


async def test_configured_keys_must_match_exactly() -> None:
    server = SimulatorServer(Simulator(api_key="right", secret_key="secret"))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = GameballClient(session, server)
            path = "/integrations/customers/cust-1001/balance"
            wrong_key = await client.call(
                "GET", path, headers={"APIKey": "x", "SecretKey": "secret"}
            )
            wrong_secret = await client.call(
                "GET", path, headers={"APIKey": "right", "SecretKey": "x"}
            )
            right = await client.call(
                "GET", path, headers={"APIKey": "right", "SecretKey": "secret"}
            )
    finally:
        await server.stop()

    assert (wrong_key[0], wrong_key[1]["code"]) == (401, 1000)
    assert (wrong_secret[0], wrong_secret[1]["code"]) == (401, 1001)
    assert right[0] == 200

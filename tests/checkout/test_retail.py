"""The retail counter the way Gameball's POS guide builds it, through the local API against the
simulator: register the shopper, quote an order, validate and lock a coupon, hold points,
finalize the order burning both, refund a line, and read the history; online and offline."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient

from sidecar.simulator import SimulatorServer
from sidecar.simulator.customers import referral_code
from tests.support.clients import assert_error_shape
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.retail import call, ledger, sent
from tests.support.waits import wait_drained

Client = TestClient[Any, Any]


ORDER = {
    "customerId": "cust-1001",
    "orderId": "ord-1",
    "totalPaid": 100,
    "totalPrice": 100,
    "lineItems": [
        {"productId": "mug", "sku": "MUG-01", "quantity": 2, "price": 30},
        {"productId": "tee", "quantity": 1, "price": 40},
    ],
}


async def test_order_online_is_delivered_with_points_and_store_identity(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    code, body = await call(sidecar, "POST", "/v1/finalize-order", ORDER)

    assert code == 200, body
    assert body["status"] == "delivered" and body["orderId"] == "ord-1"
    assert body["rewardedPoints"] == 100
    (order,) = sent(simulator, "/integrations/orders")
    assert order["merchant"]["uniqueId"] == "merchant-42" and order["channel"] == "pos"
    assert order["extra"]["terminalId"] == "till-3" and order["orderDate"].endswith("Z")
    assert any(e["transactionId"] == "ord-1" for e in ledger(simulator, "cust-1001"))


async def test_order_offline_is_queued_then_replayed_once_with_its_own_date(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    order = {**ORDER, "orderId": "ord-2", "orderDate": "2026-11-20T09:15:00.123Z"}

    code, body = await call(sidecar, "POST", "/v1/finalize-order", order)
    again = await call(sidecar, "POST", "/v1/finalize-order", order)
    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert code == 202 and body["status"] == "queued" and again == (code, body)
    (replayed,) = sent(simulator, "/integrations/orders")
    assert replayed["orderDate"] == "2026-11-20T09:15:00.123Z"
    rows = [e for e in ledger(simulator, "cust-1001") if e["transactionId"] == "ord-2"]
    assert len(rows) == 1


async def test_order_burns_its_hold_and_coupon_lock(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    _, held = await call(
        sidecar,
        "POST",
        "/v1/hold-and-redeem",
        {"customerId": "cust-1001", "checkoutId": "ret-1", "points": 100},
    )
    _, coupons = await call(
        sidecar,
        "POST",
        "/v1/coupons/validate",
        {
            "customerId": "cust-1001",
            "coupons": ["SAVE10"],
            "totalPurchaseAmount": 100,
            "lock": True,
        },
    )
    redemption = {
        "pointsHoldReference": held["holdReference"],
        "couponsLockReference": coupons["lockReference"],
        "couponCodes": ["SAVE10"],
    }

    code, body = await call(
        sidecar,
        "POST",
        "/v1/finalize-order",
        {**ORDER, "orderId": "ord-3", "redemption": redemption},
    )
    again = await call(
        sidecar,
        "POST",
        "/v1/finalize-order",
        {
            **ORDER,
            "orderId": "ord-4",
            "redemption": {"couponsLockReference": coupons["lockReference"]},
        },
    )
    release = await call(sidecar, "DELETE", f"/v1/coupons/locks/{coupons['lockReference']}")

    assert coupons["valid"] is True and coupons["lockReference"] and coupons["expiresAt"]
    assert code == 200 and body["redeemedPoints"] == 100, body
    assert again[0] == 409
    assert_error_shape(again[1], "COUPON_LOCK_ALREADY_USED")
    assert release[0] == 409
    assert_error_shape(release[1], "COUPON_LOCK_ALREADY_USED")
    locks = simulator.sim.state.coupons.snapshot()["locks"]
    assert [lock["state"] for lock in locks] == ["used"]


async def test_refund_of_an_order_line_by_product(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await call(sidecar, "POST", "/v1/finalize-order", {**ORDER, "orderId": "ord-5"})

    code, body = await call(
        sidecar,
        "POST",
        "/v1/refund",
        {
            "orderId": "ord-5",
            "refundId": "ret-r1",
            "lineItems": [{"productId": "mug", "quantity": 1}],
        },
    )

    assert code == 200 and body["refundId"] == "ret-r1", body
    cancels = [e for e in ledger(simulator, "cust-1001") if e["transactionId"] == "ret-r1"]
    assert cancels and cancels[0]["type"] == "Cancel" and cancels[0]["points"] == 30


async def test_refund_names_exactly_one_sale(sidecar: Client) -> None:
    both = await call(
        sidecar, "POST", "/v1/refund", {"orderId": "o", "paymentId": "p", "refundId": "r"}
    )
    neither = await call(sidecar, "POST", "/v1/refund", {"refundId": "r"})

    for code, body in (both, neither):
        assert code == 422
        assert_error_shape(body, "VALIDATION_ERROR")
        assert body["error"]["details"][0]["field"] == "$.paymentId"


async def test_order_quote_online_offline_and_never_mixed(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    basket = {"customerId": "cust-1001", "totalPaid": 100, "lineItems": ORDER["lineItems"]}

    online = await call(sidecar, "POST", "/v1/estimate-points", basket)
    await simulator.set_down(True)
    offline = await call(sidecar, "POST", "/v1/estimate-points", {**basket, "totalPaid": 99})
    mixed = await call(
        sidecar,
        "POST",
        "/v1/estimate-points",
        {**basket, "paymentDetails": [{"serviceId": "x", "amount": 1}]},
    )

    assert (
        online[0] == 200 and online[1]["source"] == "upstream" and online[1]["totalPoints"] == 100
    )
    quote = sent(simulator, "/integrations/orders/cashback")[0]
    assert quote["totalDiscount"] == 0 and quote["totalShipping"] == 0  # required by the spec
    assert offline[0] == 200 and offline[1]["source"] == "offline-estimate"
    assert mixed[0] == 422
    assert_error_shape(mixed[1], "VALIDATION_ERROR")


async def test_cashback_online_offline_and_idempotent(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    body = {"customerId": "cust-2002", "transactionId": "cb-1", "amount": 25}

    online = await call(sidecar, "POST", "/v1/finalize-cashback", body)
    conflict = await call(sidecar, "POST", "/v1/finalize-cashback", {**body, "amount": 26})
    await simulator.set_down(True)
    queued = await call(sidecar, "POST", "/v1/finalize-cashback", {**body, "transactionId": "cb-2"})
    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert online[0] == 200 and online[1]["rewardedPoints"] > 0, online
    assert conflict[0] == 409
    assert_error_shape(conflict[1], "IDEMPOTENCY_CONFLICT")
    assert queued[0] == 202 and queued[1]["transactionId"] == "cb-2"
    ids = [e["transactionId"] for e in ledger(simulator, "cust-2002")]
    assert ids.count("cb-1") == 1 and ids.count("cb-2") == 1


async def test_customer_registered_offline_reaches_gameball_before_their_sale(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    shopper = {
        "email": "new.shopper@example.com",
        "referrerCode": referral_code("cust-1001"),
        "customerAttributes": {"displayName": "Sam", "preferredLanguage": "en"},
    }

    registered = await call(sidecar, "PUT", "/v1/customers/new-shopper", shopper)
    again = await call(sidecar, "PUT", "/v1/customers/new-shopper", shopper)
    sale = await call(
        sidecar,
        "POST",
        "/v1/finalize-payment",
        {"customerId": "new-shopper", "paymentId": "first-sale", "totalPaid": 10},
    )
    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert registered[0] == 202 and registered[1]["customerId"] == "new-shopper"
    assert again == registered  # the same upsert resent is the same call
    assert sale[0] == 202
    types = [e["type"] for e in ledger(simulator, "new-shopper")]
    assert types.index("AchievementReward") < types.index("PaymentReward")
    assert any(e["type"] == "AchievementReward" for e in ledger(simulator, "cust-1001"))
    shown = await call(sidecar, "GET", f"/v1/outbox/{registered[1]['outboxId']}")
    assert "new.shopper@example.com" not in str(shown) and "Sam" not in str(shown)


async def test_customer_update_with_a_changed_body_is_a_new_call(sidecar: Client) -> None:
    first = await call(sidecar, "PUT", "/v1/customers/cust-3003", {"guest": False})

    second = await call(
        sidecar, "PUT", "/v1/customers/cust-3003", {"customerAttributes": {"city": "Cairo"}}
    )

    assert first[0] == 200 and second[0] == 200
    assert first[1]["outboxId"] != second[1]["outboxId"]


async def test_manual_points_keep_who_and_why(sidecar: Client, simulator: SimulatorServer) -> None:
    body = {
        "customerId": "cust-2002",
        "transactionId": "mp-1",
        "username": "manager.amal",
        "reason": "Late delivery apology",
        "points": 50,
    }

    code, answer = await call(sidecar, "POST", "/v1/manual-points", body)
    missing = await call(sidecar, "POST", "/v1/manual-points", {**body, "username": None})
    both = await call(sidecar, "POST", "/v1/manual-points", {**body, "amount": 5})
    export = await sidecar.get("/v1/outbox")

    assert code == 200 and answer["points"] == 50, answer
    assert missing[0] == 422 and missing[1]["error"]["details"][0]["field"] == "$.username"
    assert both[0] == 422 and both[1]["error"]["details"][0]["field"] == "$.points"
    (item,) = (await export.json())["items"]
    assert item["username"] == "manager.amal" and item["reason"] == "Late delivery apology"
    rows = [e for e in ledger(simulator, "cust-2002") if e["transactionId"] == "mp-1"]
    assert rows and rows[0]["points"] == 50


async def test_full_balance_shows_points_about_to_expire(sidecar: Client) -> None:
    code, balance = await call(sidecar, "GET", "/v1/customers/cust-1001/balance")

    assert code == 200
    for field in (
        "totalPointsValue",
        "pendingPointsValue",
        "nextExpiringPointsAmount",
        "nextExpiringPointsValue",
        "nextExpiringPointsDate",
        "totalEarnedPoints",
    ):
        assert field in balance, field


async def test_history_online_then_stale_with_this_tills_queued_calls(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    # A cache shorter than the test, so the offline answer is the last page seen, marked stale.
    sidecar = await make_sidecar(make_config(SIDECAR_CACHE_BALANCE_TTL="0.01"))
    await call(sidecar, "POST", "/v1/finalize-order", {**ORDER, "orderId": "ord-h1"})

    online = await call(sidecar, "GET", "/v1/customers/cust-1001/transactions?limit=5")
    await simulator.set_down(True)
    for n in range(3):
        await call(sidecar, "GET", f"/v1/customers/circuit-{n}/balance")
    await call(sidecar, "POST", "/v1/finalize-order", {**ORDER, "orderId": "ord-h2"})
    await asyncio.sleep(0.05)  # past the cache's 10 ms
    offline = await call(sidecar, "GET", "/v1/customers/cust-1001/transactions?limit=5")
    never = await call(sidecar, "GET", "/v1/customers/nobody/transactions")
    bad = await call(sidecar, "GET", "/v1/customers/cust-1001/transactions?direction=x")

    assert online[0] == 200 and online[1]["source"] == "upstream"
    assert "ord-h1" in [t["transactionId"] for t in online[1]["transactions"]]
    assert offline[0] == 200 and offline[1]["stale"] is True, offline
    assert [q["transactionId"] for q in offline[1]["queued"]] == ["ord-h2"]
    assert offline[1]["queued"][0]["status"] == "queued"
    assert never[0] == 503
    assert_error_shape(never[1], "HISTORY_UNAVAILABLE")
    assert bad[0] == 422


async def test_coupons_refused_and_offline(sidecar: Client, simulator: SimulatorServer) -> None:
    expired = await call(
        sidecar,
        "POST",
        "/v1/coupons/validate",
        {"customerId": "cust-1001", "coupons": ["EXPIRED5"]},
    )
    await simulator.set_down(True)
    offline = await call(
        sidecar, "POST", "/v1/coupons/validate", {"customerId": "cust-1001", "coupons": ["SAVE10"]}
    )
    unknown_lock = await call(sidecar, "DELETE", "/v1/coupons/locks/not-ours")

    assert expired[0] == 422
    assert_error_shape(expired[1], "COUPON_REFUSED")
    assert expired[1]["error"]["upstreamCode"] == 9013
    assert offline[0] == 503 and offline[1]["error"]["retryable"] is True
    assert_error_shape(offline[1], "OFFLINE_COUPONS_UNAVAILABLE")
    assert unknown_lock[0] == 404
    assert_error_shape(unknown_lock[1], "COUPON_LOCK_NOT_FOUND")


async def test_coupon_lock_is_released_queued_and_not_burned_by_another_customer(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    _, locked = await call(
        sidecar,
        "POST",
        "/v1/coupons/validate",
        {"customerId": "cust-1001", "coupons": ["PCT15"], "totalPurchaseAmount": 100, "lock": True},
    )
    reference = locked["lockReference"]

    foreign = await call(
        sidecar,
        "POST",
        "/v1/finalize-order",
        {
            **ORDER,
            "customerId": "cust-2002",
            "orderId": "ord-x",
            "redemption": {"couponsLockReference": reference},
        },
    )
    await simulator.set_down(True)
    released = await call(sidecar, "DELETE", f"/v1/coupons/locks/{reference}")
    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert foreign[0] == 422
    assert_error_shape(foreign[1], "COUPON_LOCK_BELONGS_TO_ANOTHER_CUSTOMER")
    assert released[0] == 202 and released[1]["lockReference"] == reference
    assert [r for r in simulator.sim.requests if reference in r["path"]][-1]["status"] == 200


async def test_expired_coupon_lock_at_replay_earns_only_flagged_for_finance(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar()
    _, locked = await call(
        sidecar,
        "POST",
        "/v1/coupons/validate",
        {
            "customerId": "cust-1001",
            "coupons": ["SAVE10"],
            "totalPurchaseAmount": 100,
            "lock": True,
        },
    )
    await simulator.set_down(True)
    _, queued = await call(
        sidecar,
        "POST",
        "/v1/finalize-order",
        {
            **ORDER,
            "orderId": "ord-late",
            "redemption": {"couponsLockReference": locked["lockReference"]},
        },
    )
    simulator.sim.advance_clock(3600)  # the lock lapses before the order reaches Gameball

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = (await call(sidecar, "GET", f"/v1/outbox/{queued['outboxId']}"))[1]
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed"
    assert "coupon" in item["note"]
    assert "couponsLockReference" not in (item["request"].get("redemption") or {})
    exported = await (await sidecar.get("/v1/outbox")).json()
    assert exported["items"][0]["outcome"] == "redemption_failed"


async def test_an_unknown_coupon_lock_earns_only_flagged_online_and_at_replay(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    unknown = {"couponsLockReference": "no-such-lock"}
    online = await call(
        sidecar, "POST", "/v1/finalize-order", {**ORDER, "orderId": "ord-u1", "redemption": unknown}
    )
    await simulator.set_down(True)
    _, queued = await call(
        sidecar, "POST", "/v1/finalize-order", {**ORDER, "orderId": "ord-u2", "redemption": unknown}
    )

    await simulator.set_down(False)
    await wait_drained(sidecar)

    replayed = (await call(sidecar, "GET", f"/v1/outbox/{queued['outboxId']}"))[1]
    assert online[0] == 200 and online[1]["outcome"] == "redemption_failed", online
    assert (replayed["state"], replayed["outcome"]) == ("delivered", "redemption_failed")
    earned = {e["transactionId"] for e in ledger(simulator, "cust-1001")}
    assert {"ord-u1", "ord-u2"} <= earned


async def test_scanned_pass_names_the_customer_and_carries_the_hash(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    code, held = await call(
        sidecar,
        "POST",
        "/v1/hold-and-redeem",
        {"scannedPass": "cust-1001654321", "checkoutId": "qr-1", "points": 10},
    )
    bad = await call(
        sidecar,
        "POST",
        "/v1/hold-and-redeem",
        {"scannedPass": "cust-1001abcdef", "checkoutId": "qr-2", "points": 10},
    )
    both = await call(
        sidecar,
        "POST",
        "/v1/hold-and-redeem",
        {
            "customerId": "cust-1001",
            "scannedPass": "cust-1001654321",
            "checkoutId": "qr-3",
            "points": 1,
        },
    )

    assert code == 200 and held["customerId"] == "cust-1001", held
    (request,) = sent(simulator, "/integrations/transactions/hold")
    assert request["customerId"] == "cust-1001" and request["hash"] == "654321"
    assert bad[0] == 422 and bad[1]["error"]["details"][0]["field"] == "$.scannedPass"
    assert both[0] == 422 and both[1]["error"]["details"][0]["field"] == "$.customerId"


async def test_export_lists_orders_manual_points_and_their_columns(sidecar: Client) -> None:
    await call(sidecar, "POST", "/v1/finalize-order", {**ORDER, "orderId": "ord-e"})
    await call(
        sidecar,
        "POST",
        "/v1/manual-points",
        {
            "customerId": "cust-1001",
            "transactionId": "mp-e",
            "username": "=HYPERLINK()",
            "reason": "goodwill",
            "amount": -1,
        },
    )
    assert sidecar.app is not None
    from sidecar.app import components_key

    text = await sidecar.app[components_key].view.export("csv")

    rows = {r["kind"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["order"]["orderId"] == "ord-e"
    assert rows["manual"]["transactionId"] == "mp-e"
    assert rows["manual"]["username"] == "'=HYPERLINK()"  # neutralised for spreadsheets

"""Finalize, refund and release on the durable outbox: acknowledged only once stored, delivered
at once when Gameball answers in time, otherwise queued and replayed exactly once, in order."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient

from sidecar.app import connectivity_key
from sidecar.simulator import SimulatorServer
from tests.conftest import MakeConfig, MakeSidecar, assert_error_shape, wait_until

Client = TestClient[Any, Any]


def payment(customer: str, payment_id: str, paid: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {"customerId": customer, "paymentId": payment_id, "totalPaid": paid, **extra}


async def finalize(client: Client, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/finalize-payment", json=body)
    return response.status, await response.json()


async def status(client: Client) -> dict[str, Any]:
    return await (await client.get("/v1/status")).json()  # type: ignore[no-any-return]


async def drained(client: Client) -> bool:
    return (await status(client))["outbox"]["queued"] == 0


async def wait_drained(client: Client, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await drained(client):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox not drained: {(await status(client))['outbox']}")
        await asyncio.sleep(0.05)


def payments_in_ledger(simulator: SimulatorServer, customer: str | None = None) -> list[str]:
    return [
        e["transactionId"] for e in simulator.sim.ledger(customer) if e["type"] == "PaymentReward"
    ]


async def hold(client: Client, checkout: str, points: int, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": checkout, "points": points, **extra},
    )
    return await response.json()  # type: ignore[no-any-return]


def with_hold(payment_id: str, paid: float, held: dict[str, Any]) -> dict[str, Any]:
    return payment(
        "cust-1001", payment_id, paid, redemption={"pointsHoldReference": held["holdReference"]}
    )


async def queue_with_expired_hold(
    sidecar: Client, simulator: SimulatorServer, checkout: str, points: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A hold made online, its payment queued offline, and the hold expired before replay."""
    held = await hold(sidecar, checkout, points)
    await simulator.set_down(True)
    _, queued = await finalize(sidecar, with_hold(f"pay-{checkout}", 20, held))
    simulator.sim.advance_clock(700)
    return held, queued


async def test_finalize_online_is_delivered_with_points(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    code, body = await finalize(sidecar, payment("cust-1001", "pay-1", 42.5))

    assert code == 200, body
    assert body["status"] == "delivered" and body["paymentId"] == "pay-1"
    assert body["rewardedPoints"] == 42 and body["redeemedPoints"] == 0
    assert payments_in_ledger(simulator, "cust-1001") == ["pay-1"]


async def test_finalize_stamps_store_identity_channel_and_keeps_payment_date(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await finalize(sidecar, payment("cust-1001", "pay-2", paymentDate="2026-11-20T09:15:00.123Z"))

    sent = [r for r in simulator.sim.requests if r["path"].endswith("/integrations/payments")]
    body = sent[-1]["json"]
    assert body["merchant"] == {
        "uniqueId": "merchant-42",
        "name": "Acme Coffee",
        "branch": {"uniqueId": "branch-7", "name": "Downtown"},
    }
    assert body["channel"] == "pos" and body["extra"]["terminalId"] == "till-3"
    assert body["paymentDate"] == "2026-11-20T09:15:00.123Z"


async def test_finalize_same_id_same_body_returns_stored_outcome_without_second_call(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await finalize(sidecar, payment("cust-1001", "pay-3"))

    again = await finalize(sidecar, payment("cust-1001", "pay-3"))

    assert again == first
    sent = [r for r in simulator.sim.requests if r["path"].endswith("/integrations/payments")]
    assert len(sent) == 1


async def test_finalize_same_id_different_body_is_409(sidecar: Client) -> None:
    await finalize(sidecar, payment("cust-1001", "pay-4", 10))

    code, body = await finalize(sidecar, payment("cust-1001", "pay-4", 11))

    assert code == 409
    assert_error_shape(body, "IDEMPOTENCY_CONFLICT")


async def test_offline_payments_queue_then_replay_exactly_once_in_order(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    customers = [f"c-{n}" for n in range(4)]
    sent: dict[str, list[str]] = {c: [] for c in customers}
    for i in range(10):
        for customer in customers:
            code, body = await finalize(sidecar, payment(customer, f"{customer}-p{i}", 5 + i))
            assert code == 202 and body["status"] == "queued", body
            sent[customer].append(f"{customer}-p{i}")
    assert (await status(sidecar))["outbox"]["queued"] == 40

    await simulator.set_down(False)
    await wait_drained(sidecar)

    everything = payments_in_ledger(simulator)
    assert Counter(everything) == Counter(p for ps in sent.values() for p in ps)
    for customer in customers:
        assert payments_in_ledger(simulator, customer) == sent[customer]
    assert (await status(sidecar))["outbox"]["delivered"] == 40


async def test_replay_keeps_enqueue_time_identity_after_config_change(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    first = await make_sidecar()
    await simulator.set_down(True)
    code, _ = await finalize(
        first, payment("cust-1001", "pay-meta", paymentDate="2026-11-01T08:00:00Z")
    )
    assert code == 202
    await first.close()

    moved = make_config(SIDECAR_BRANCH_ID="branch-NEW", SIDECAR_MERCHANT_ID="merchant-NEW")
    await simulator.set_down(False)
    second = await make_sidecar(moved)
    await wait_drained(second)

    entry = next(e for e in simulator.sim.ledger("cust-1001") if e["transactionId"] == "pay-meta")
    assert entry["merchantUniqueId"] == "merchant-42" and entry["branchUniqueId"] == "branch-7"
    assert entry["channel"] == "pos"
    assert entry["transactionTime"].startswith("2026-11-01T08:00:00")


async def test_lost_answer_then_9004_on_replay_counts_as_delivered(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    # The payment lands at Gameball but the answer never comes back.
    simulator.sim.set_fault("drop_response", paths=["/integrations/payments"], count=1)

    code, body = await finalize(sidecar, payment("cust-1001", "pay-lost"))
    await wait_drained(sidecar)

    assert code == 202
    item = await (await sidecar.get(f"/v1/outbox/{body['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "already"
    assert item["lastCode"] == 9004
    assert payments_in_ledger(simulator, "cust-1001") == ["pay-lost"]


async def test_429_pauses_all_sending(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_PACING_PAUSE_ON_429="1.5"))
    simulator.sim.set_fault("ratelimit", paths=["/integrations/payments"], count=1)

    first = await finalize(sidecar, payment("c-a", "rl-1"))
    paused = (await status(sidecar))["outbox"]["rateLimitedForSeconds"]
    second = await finalize(sidecar, payment("c-b", "rl-2"))
    sent_during_pause = [
        r for r in simulator.sim.requests if r["path"].endswith("/integrations/payments")
    ]
    await wait_drained(sidecar)

    assert first[0] == 202 and second[0] == 202
    assert paused > 0
    assert len(sent_during_pause) == 1  # only the one that met the 429
    assert sorted(payments_in_ledger(simulator)) == ["rl-1", "rl-2"]


async def test_auth_refusal_holds_queue_and_raises_alarm(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_OUTBOX_ALARM_RETRY="0.5"))
    simulator.sim.set_fault(
        "gameball_error", status=401, code=1000, paths=["/integrations/payments"]
    )

    await finalize(sidecar, payment("cust-1001", "auth-1"))
    await finalize(sidecar, payment("cust-2002", "auth-2"))
    alarmed = await status(sidecar)

    assert alarmed["alarm"]["raised"] is True and alarmed["alarm"]["upstreamCode"] == 1000
    assert alarmed["outbox"]["queued"] == 2 and alarmed["outbox"]["deadLetters"] == 0
    assert any("API keys" in line for line in alarmed["attention"])
    simulator.sim.clear_faults()
    await wait_drained(sidecar)
    assert (await status(sidecar))["alarm"]["raised"] is False
    assert sorted(payments_in_ledger(simulator)) == ["auth-1", "auth-2"]


async def test_4xx_goes_to_dead_letter_then_retry_or_discard_by_hand(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault(
        "gameball_error", status=422, code=3003, paths=["/integrations/payments"]
    )
    refused = [
        await finalize(sidecar, payment("cust-1001", "dead-1")),
        await finalize(sidecar, payment("cust-2002", "dead-2")),
    ]

    dead = (await (await sidecar.get("/v1/outbox?state=dead")).json())["items"]
    one, two = (d["id"] for d in dead)
    simulator.sim.clear_faults()
    retried = await sidecar.post(f"/v1/outbox/{one}/retry")
    no_reason = await sidecar.post(f"/v1/outbox/{two}/discard", json={})
    discarded = await sidecar.post(
        f"/v1/outbox/{two}/discard", json={"reason": "duplicate sale, voided at till"}
    )
    await wait_drained(sidecar)

    assert [code for code, _ in refused] == [422, 422]
    assert {d["paymentId"] for d in dead} == {"dead-1", "dead-2"}
    assert all(d["lastCode"] == 3003 and d["lastError"] for d in dead)
    assert retried.status == 200
    assert no_reason.status == 422
    assert (await discarded.json())["discardReason"] == "duplicate sale, voided at till"
    assert payments_in_ledger(simulator) == ["dead-1"]
    again = await finalize(sidecar, payment("cust-2002", "dead-2"))
    assert again[0] == 409
    assert_error_shape(again[1], "DISCARDED")
    assert "duplicate sale" in again[1]["error"]["message"]


async def test_refund_never_sent_before_its_payment(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await finalize(sidecar, payment("cust-1001", "pay-r", 100))
    response = await sidecar.post(
        "/v1/refund", json={"paymentId": "pay-r", "refundId": "ref-r", "amount": 40}
    )
    code, body = response.status, await response.json()

    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert code == 202 and body["status"] == "queued" and body["refundId"] == "ref-r"
    ledger = [(e["transactionId"], e["type"]) for e in simulator.sim.ledger("cust-1001")]
    assert ledger.index(("pay-r", "PaymentReward")) < [t for t, _ in ledger].index("ref-r")


async def test_refund_of_unknown_payment_needs_customer(sidecar: Client) -> None:
    response = await sidecar.post("/v1/refund", json={"paymentId": "elsewhere", "refundId": "r-1"})

    body = await response.json()
    assert response.status == 422
    assert body["error"]["details"][0]["field"] == "$.customerId"


async def test_release_hold_durably(sidecar: Client, simulator: SimulatorServer) -> None:
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "rel-1", "points": 30},
        )
    ).json()

    released = await sidecar.delete(f"/v1/holds/{held['holdReference']}")
    unknown = await sidecar.delete("/v1/holds/not-a-hold-of-ours")

    assert released.status == 200 and (await released.json())["status"] == "delivered"
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == 500
    assert unknown.status == 404
    assert_error_shape(await unknown.json(), "HOLD_NOT_FOUND")


async def test_queued_payment_with_expired_hold_is_reheld(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held, queued = await queue_with_expired_hold(sidecar, simulator, "exp-1", 100)

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "reheld"
    assert item["result"]["redeemedPoints"] == 100
    assert item["request"]["redemption"]["pointsHoldReference"] != held["holdReference"]


async def test_queued_payment_with_expired_hold_that_cannot_be_reheld_earns_only(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    _, queued = await queue_with_expired_hold(sidecar, simulator, "exp-2", 400)
    # The points came back at expiry and were spent elsewhere, so they cannot be held again.
    simulator.sim.seed_customer("cust-1001", points=50)

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed"
    assert item["result"]["rewardedPoints"] == 20 and item["result"]["redeemedPoints"] == 0
    st = await status(sidecar)
    assert st["outbox"]["redemptionFailed"] == 1
    assert payments_in_ledger(simulator, "cust-1001") == ["pay-exp-2"]


async def test_offline_limits_refuse_clearly(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(
            SIDECAR_LIMITS_MAX_PAYMENT_AMOUNT="100",
            SIDECAR_LIMITS_MAX_QUEUED_AMOUNT="150",
            SIDECAR_LIMITS_MAX_QUEUED_COUNT="3",
        )
    )
    await simulator.set_down(True)
    await _go_offline(sidecar)

    too_big = await finalize(sidecar, payment("c-1", "l-1", 101))
    ok_1 = await finalize(sidecar, payment("c-1", "l-2", 90))
    over_total = await finalize(sidecar, payment("c-2", "l-3", 61))
    ok_2 = await finalize(sidecar, payment("c-2", "l-4", 30))
    ok_3 = await finalize(sidecar, payment("c-3", "l-5", 1))
    over_count = await finalize(sidecar, payment("c-3", "l-6", 1))

    assert too_big[0] == 503 and too_big[1]["error"]["code"] == "OFFLINE_PAYMENT_LIMIT"
    assert over_total[0] == 503 and over_total[1]["error"]["code"] == "OFFLINE_AMOUNT_LIMIT"
    assert over_count[0] == 503 and over_count[1]["error"]["code"] == "OFFLINE_QUEUE_FULL"
    assert [ok_1[0], ok_2[0], ok_3[0]] == [202, 202, 202]
    for refused in (too_big, over_total, over_count):
        assert_error_shape(refused[1], refused[1]["error"]["code"])


async def test_offline_too_long_refuses(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_LIMITS_MAX_OFFLINE_AGE="0.2"))
    await simulator.set_down(True)
    await _go_offline(sidecar)
    await asyncio.sleep(0.3)

    code, body = await finalize(sidecar, payment("c-1", "old-1"))

    assert code == 503 and body["error"]["code"] == "OFFLINE_TOO_LONG"


async def test_disk_full_acknowledges_nothing(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_SIDECAR_MAX_DB_MB="1"))
    await simulator.set_down(True)
    big = {"note": "x" * 30_000}
    answers = [
        await finalize(sidecar, payment("c-1", f"full-{n}", 1, extra=big)) for n in range(60)
    ]

    codes = Counter(code for code, _ in answers)
    refused = [body for code, body in answers if code == 503]
    assert codes[202] > 0 and codes[503] > 0 and set(codes) == {202, 503}
    assert refused[0]["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert "size limit (sidecar.max_db_mb)" in refused[0]["error"]["message"]
    acknowledged = [body["paymentId"] for code, body in answers if code == 202]
    listed = (await (await sidecar.get("/v1/outbox?limit=1000")).json())["items"]
    assert [i["paymentId"] for i in listed] == acknowledged


async def _go_offline(sidecar: Client) -> None:
    assert sidecar.app is not None
    connectivity = sidecar.app[connectivity_key]
    for _ in range(10):
        if connectivity.offline:
            return
        await sidecar.post("/v1/estimate-points", json={"totalPaid": 1})
    await wait_until(lambda: connectivity.offline)


async def test_same_payment_date_for_one_customer_gets_distinct_milliseconds(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    when = "2026-11-21T12:00:00.000Z"

    first = await finalize(sidecar, payment("cust-1001", "same-ms-1", paymentDate=when))
    second = await finalize(sidecar, payment("cust-1001", "same-ms-2", paymentDate=when))

    assert first[0] == 200 and second[0] == 200, second  # no 9003 from Gameball
    times = {
        e["transactionId"]: e["transactionTime"]
        for e in simulator.sim.ledger("cust-1001")
        if e["type"] == "PaymentReward"
    }
    assert times["same-ms-1"].startswith("2026-11-21T12:00:00.000")
    assert times["same-ms-2"].startswith("2026-11-21T12:00:00.001")


async def test_breaker_makes_offline_finalize_answer_without_waiting(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(
            SIDECAR_BUDGETS_FINALIZE="0.3",
            SIDECAR_UPSTREAM_TIMEOUT="30",
            SIDECAR_CONNECTIVITY_PROBE_INITIAL="60",
        )
    )
    simulator.sim.set_fault("blackhole")
    for n in range(3):
        code, _ = await finalize(sidecar, payment(f"bh-{n}", f"bh-pay-{n}"))
        assert code == 202
    sent_before = len(simulator.sim.requests)

    answers = [await finalize(sidecar, payment(f"bh-x{n}", f"bh-more-{n}")) for n in range(20)]

    assert all(code == 202 for code, _ in answers)
    assert len(simulator.sim.requests) == sent_before  # the open circuit sends nothing
    assert (await status(sidecar))["connectivity"]["state"] == "offline"


async def test_replay_is_paced_to_the_configured_rate(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_PACING_PER_SECOND="5", SIDECAR_OUTBOX_CONCURRENCY="8")
    )
    await simulator.set_down(True)
    for n in range(16):
        await finalize(sidecar, payment(f"pace-{n}", f"pace-pay-{n}"))

    await simulator.set_down(False)
    await wait_drained(sidecar)

    times = sorted(
        r["time"] for r in simulator.sim.requests if r["path"].endswith("/integrations/payments")
    )
    assert len(times) == 16
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 5

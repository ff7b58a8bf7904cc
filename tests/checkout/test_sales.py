"""Finalize a payment: stamped with the store's identity, stored before any 2xx, delivered at
once when Gameball answers within the budget, otherwise queued; a resend gets the stored
outcome, and past an offline limit nothing is stored. First Sales itself over real parts on
fake time (the offline limits at admission), then the same through the app."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from sidecar import errors
from sidecar.app import connectivity_key
from sidecar.checkout.models import FinalizeRequest
from sidecar.checkout.queueing import OfflineLimits, Submitter
from sidecar.checkout.sales import Sales, Store
from sidecar.clocks import Clocks
from sidecar.gameball.wire import GbBranch, GbMerchant
from sidecar.simulator import SimulatorServer
from sidecar.store.database import Database
from tests.support.clients import (
    Client,
    GameballClient,
    assert_error_shape,
    finalize,
    go_offline,
    ledger,
    outbox_items,
    payment,
    payments_in_ledger,
    status,
)
from tests.support.clocks import FakeTime
from tests.support.delivery import Parts, delivery_parts, dispatcher_over
from tests.support.fixtures import MakeConfig, MakeSidecar

LIMITS = OfflineLimits(
    max_payment_amount=100, max_queued_amount=150, max_queued_count=3, max_offline_age=3600
)


@pytest.fixture
async def sales(
    simulator: SimulatorServer, database: Database, fake_time: FakeTime
) -> AsyncIterator[tuple[Sales, Parts]]:
    async with (
        delivery_parts(simulator, database, fake_time) as parts,
        dispatcher_over(parts) as dispatcher,
    ):
        made = Sales(
            outbox=parts.outbox,
            submitter=Submitter(
                dispatcher=dispatcher,
                connectivity=parts.connectivity,
                limits=LIMITS,
                budget=5.0,
                clocks=fake_time.clocks,
            ),
            store=Store(
                merchant=GbMerchant(uniqueId="merchant-42", branch=GbBranch(uniqueId="branch-7")),
                terminal_id="till-3",
            ),
        )
        yield made, parts


def sale(customer: str, payment_id: str, paid: float) -> FinalizeRequest:
    return FinalizeRequest(customerId=customer, paymentId=payment_id, totalPaid=paid)


async def refusal(sales: Sales, request: FinalizeRequest) -> str | None:
    """The offline limit that refused the sale, or None when it was accepted."""
    try:
        await sales.finalize(request)
    except errors.OfflineLimitReached as exc:
        return exc.code
    return None


async def test_sales_online_no_offline_limit_applies(sales: tuple[Sales, Parts]) -> None:
    selling, parts = sales
    parts.connectivity.record_success()

    answer = await selling.finalize(sale("cust-2002", "big-online", 5_000))

    assert answer.status == "delivered" and answer.rewardedPoints == 10_000  # Gold: x2


async def test_sales_offline_limits_refuse_at_admission_and_store_nothing(
    sales: tuple[Sales, Parts],
) -> None:
    selling, parts = sales
    parts.go_offline()

    refused = [
        await refusal(selling, sale("c-1", "l-1", 101)),  # over the payment limit
        await refusal(selling, sale("c-1", "l-2", 90)),
        await refusal(selling, sale("c-2", "l-3", 61)),  # 90 + 61 over the queued amount
        await refusal(selling, sale("c-2", "l-4", 30)),
        await refusal(selling, sale("c-3", "l-5", 1)),
        await refusal(selling, sale("c-3", "l-6", 1)),  # a fourth call queued
    ]

    assert refused == [
        "OFFLINE_PAYMENT_LIMIT",
        None,
        "OFFLINE_AMOUNT_LIMIT",
        None,
        None,
        "OFFLINE_QUEUE_FULL",
    ]
    stored = [item.idem_key for item in await parts.outbox.listing()]
    assert stored == ["payment:l-2", "payment:l-4", "payment:l-5"]


async def test_sales_identical_resend_offline_gets_its_answer_past_the_limits(
    sales: tuple[Sales, Parts],
) -> None:
    selling, parts = sales
    parts.connectivity.record_success()
    first = await selling.finalize(sale("cust-2002", "big-1", 7_000))
    parts.go_offline()

    again = await selling.finalize(sale("cust-2002", "big-1", 7_000))

    assert first.status == again.status == "delivered" and again == first
    assert await refusal(selling, sale("cust-2002", "big-2", 7_000)) == "OFFLINE_PAYMENT_LIMIT"


async def test_sales_offline_too_long_refuses_even_right_after_a_restart(
    sales: tuple[Sales, Parts], fake_time: FakeTime
) -> None:
    selling, parts = sales
    parts.connectivity.restore(
        last_success_at=fake_time.wall - LIMITS.max_offline_age - 1, first_seen_at=0
    )

    # Not yet known offline (the breaker has not opened), but last reached too long ago.
    too_long = await refusal(selling, sale("c-1", "old-1", 1))
    parts.connectivity.record_success()
    back = await refusal(selling, sale("c-1", "new-1", 1))

    assert parts.connectivity.state == "online"
    assert (too_long, back) == ("OFFLINE_TOO_LONG", None)


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
    await go_offline(sidecar)

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
    make_sidecar: MakeSidecar,
    make_config: MakeConfig,
    simulator: SimulatorServer,
    fake_time: FakeTime,
) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_LIMITS_MAX_OFFLINE_AGE="0.2"), clocks=Clocks(clock=fake_time.clock)
    )
    await simulator.set_down(True)
    await go_offline(sidecar)
    fake_time.advance(0.3)

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


async def test_absurd_dates_are_422_not_500(sidecar: Client) -> None:
    for when in ("0001-01-01T00:00:00+05:00", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        code, body = await finalize(
            sidecar, payment("c-date", f"date-{when[:4]}", paymentDate=when)
        )

        assert code == 422, body
        assert body["error"]["details"][0]["field"] == "$.paymentDate"


async def test_waiting_under_the_rate_limit_is_not_a_gameball_failure(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(
            SIDECAR_PACING_PER_SECOND="2",
            SIDECAR_PACING_PER_30_SECONDS="3",
            SIDECAR_BUDGETS_FINALIZE="0.2",
            # The calls left waiting their turn need not be waited for when the test ends.
            SIDECAR_SIDECAR_STOP_GRACE="0.1",
        )
    )

    answers = [await finalize(sidecar, payment(f"rl-{n}", f"rl-pay-{n}")) for n in range(6)]

    assert sidecar.app is not None
    assert sidecar.app[connectivity_key].online
    assert all(code in (200, 202) for code, _ in answers)
    assert (await status(sidecar))["connectivity"]["state"] == "online"


async def test_payment_id_taken_elsewhere_is_409_and_a_dead_letter(
    sidecar: Client, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    await simulator_client.post(
        "/integrations/payments",
        {
            "customerId": "cust-2002",
            "paymentId": "taken-1",
            "paymentDate": "2026-11-20T09:00:00Z",
            "totalPaid": 5,
        },
    )

    code, body = await finalize(sidecar, payment("cust-1001", "taken-1", 30))
    again = await finalize(sidecar, payment("cust-1001", "taken-1", 30))

    assert code == 409
    assert_error_shape(body, "TRANSACTION_ID_TAKEN")
    assert again == (code, body)
    (item,) = await outbox_items(sidecar)
    assert item["state"] == "dead" and item["lastCode"] == 9004
    assert ledger(simulator, "cust-1001") == []


# Regression: gameball's refusal of a sale while online was answered 2xx.


async def test_gameball_refusal_while_online_is_422_with_its_code(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault(
        "gameball_error", status=400, code=3003, paths=["/integrations/payments"], count=1
    )

    code, body = await finalize(sidecar, payment("cust-1001", "refused-1"))
    again = await finalize(sidecar, payment("cust-1001", "refused-1"))

    assert code == 422
    assert_error_shape(body, "UPSTREAM_REJECTED")
    assert body["error"]["upstreamCode"] == 3003
    assert again == (code, body)
    (item,) = await outbox_items(sidecar)
    assert item["state"] == "dead"


# Regression: an identical resend was refused by the offline checks.


async def test_identical_resend_offline_gets_its_stored_outcome(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await finalize(sidecar, payment("cust-2002", "big-1", 7000))
    await simulator.set_down(True)
    await go_offline(sidecar)

    again = await finalize(sidecar, payment("cust-2002", "big-1", 7000))
    fresh = await finalize(sidecar, payment("cust-2002", "big-2", 7000))

    assert first[0] == 200
    assert again == first
    assert fresh[0] == 503 and fresh[1]["error"]["code"] == "OFFLINE_PAYMENT_LIMIT"

"""Regression tests for the promises a hostile hour at the till broke: each names the defect of
the "Trust under the cases nobody scripted" issue it guards, and failed before its fix."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient

from sidecar.clocks import Clocks
from sidecar.simulator import SimulatorServer
from sidecar.store.database import Database
from sidecar.store.outbox import Outbox
from sidecar.store.rows import NewItem
from tests.conftest import MakeConfig, MakeSidecar, assert_error_shape, wait_until
from tests.test_outbox import finalize, hold, payment, status, wait_drained

Client = TestClient[Any, Any]


async def refund(client: Client, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/refund", json=body)
    return response.status, await response.json()


async def outbox_items(client: Client) -> list[dict[str, Any]]:
    return (await (await client.get("/v1/outbox")).json())["items"]  # type: ignore[no-any-return]


def ledger(simulator: SimulatorServer, customer: str) -> list[tuple[str, str, int]]:
    return [(e["transactionId"], e["type"], e["points"]) for e in simulator.sim.ledger(customer)]


def gameball_hold(simulator: SimulatorServer, reference: str) -> dict[str, Any]:
    return simulator.sim.state.get_hold(reference)


# 1. A refund stored before its payment wedged that customer's queue for good.


async def test_refund_stored_before_its_payment_goes_after_it_and_blocks_nothing(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await refund(sidecar, paymentId="P1", refundId="R1", customerId="cust-1001", amount=5)

    p1 = await finalize(sidecar, payment("cust-1001", "P1", 20))
    p2 = await finalize(sidecar, payment("cust-1001", "P2", 30))
    await wait_drained(sidecar)

    assert first[0] == 202, first
    assert p1[0] == 200, p1  # the refund is not in its way
    assert p2[0] in (200, 202), p2  # 202 if it arrived while the refund was on its way
    assert all(item["state"] == "delivered" for item in await outbox_items(sidecar))
    entries = [(t, kind) for t, kind, _ in ledger(simulator, "cust-1001")]
    assert entries.index(("P1", "PaymentReward")) < entries.index(("R1", "Cancel"))
    assert ("P2", "PaymentReward") in entries


async def test_refund_queued_offline_before_its_payment_is_sent_after_it(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await refund(sidecar, paymentId="P3", refundId="R3", customerId="cust-1001")
    await finalize(sidecar, payment("cust-1001", "P3", 20))
    await finalize(sidecar, payment("cust-1001", "P4", 30))

    await simulator.set_down(False)
    await wait_drained(sidecar)

    entries = [t for t, _, _ in ledger(simulator, "cust-1001")]
    assert entries.index("P3") < entries.index("R3")
    assert "P4" in entries
    assert all(item["state"] == "delivered" for item in await outbox_items(sidecar))


# 2. A customer's payment could burn another customer's hold.


async def test_finalize_naming_another_customers_hold_is_refused_and_stores_nothing(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "own-1", 100)  # cust-1001's hold

    code, body = await finalize(
        sidecar,
        payment("cust-2002", "B-1", 10, redemption={"pointsHoldReference": held["holdReference"]}),
    )

    assert code == 422
    assert_error_shape(body, "HOLD_BELONGS_TO_ANOTHER_CUSTOMER")
    assert await outbox_items(sidecar) == []
    assert ledger(simulator, "cust-2002") == []
    assert gameball_hold(simulator, held["holdReference"])["state"] == "active"


async def test_replay_never_reholds_for_a_customer_the_hold_is_not_for(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path
) -> None:
    """A row stored before holds were checked at finalize: found only at replay."""
    first = await make_sidecar()
    held = await hold(first, "own-2", 100)
    await first.close()
    simulator.sim.advance_clock(700)  # the hold expires, so Gameball answers 9006
    await store_row(
        data_dir,
        kind="payment",
        key="payment:B-2",
        customer="cust-2002",
        body={
            "customerId": "cust-2002",
            "paymentId": "B-2",
            "paymentDate": "2026-11-20T09:15:00.123Z",
            "totalPaid": 10,
            "redemption": {"pointsHoldReference": held["holdReference"]},
        },
        hold_reference=held["holdReference"],
    )

    sidecar = await make_sidecar()
    await wait_drained(sidecar)

    (item,) = await outbox_items(sidecar)
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed"
    assert "another customer" in item["lastError"]
    assert [kind for _, kind, _ in ledger(simulator, "cust-2002")] == ["PaymentReward"]
    assert (await status(sidecar))["outbox"]["redemptionFailed"] == 1


# 3. A hold already burned was accepted again, silently.


async def test_second_sale_naming_a_used_hold_is_refused(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "twice-a", 100)
    burn = {"pointsHoldReference": held["holdReference"]}
    first = await finalize(sidecar, payment("cust-1001", "T-1", 10, redemption=burn))

    code, body = await finalize(sidecar, payment("cust-1001", "T-2", 10, redemption=burn))

    assert first[0] == 200 and first[1]["redeemedPoints"] == 100
    assert code == 409
    assert_error_shape(body, "HOLD_ALREADY_USED")
    assert [i["paymentId"] for i in await outbox_items(sidecar)] == ["T-1"]


async def test_two_offline_sales_cannot_both_name_one_hold(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "twice-b", 100)
    burn = {"pointsHoldReference": held["holdReference"]}
    await simulator.set_down(True)

    first = await finalize(sidecar, payment("cust-1001", "T-3", 10, redemption=burn))
    second = await finalize(sidecar, payment("cust-1001", "T-4", 10, redemption=burn))
    again = await finalize(sidecar, payment("cust-1001", "T-3", 10, redemption=burn))

    assert first[0] == 202 and again == first  # the same sale resent: its stored outcome
    assert second[0] == 409
    assert_error_shape(second[1], "HOLD_ALREADY_USED")


async def test_sale_naming_a_released_hold_is_refused(sidecar: Client) -> None:
    held = await hold(sidecar, "gone-1", 50)
    await sidecar.delete(f"/v1/holds/{held['holdReference']}")

    code, body = await finalize(
        sidecar,
        payment("cust-1001", "T-5", 10, redemption={"pointsHoldReference": held["holdReference"]}),
    )

    assert code == 409
    assert_error_shape(body, "HOLD_RELEASED")


async def test_hold_found_used_at_replay_is_redemption_failed(
    sidecar: Client, simulator: SimulatorServer, simulator_client: Any
) -> None:
    """A hold made on another till and burned there before this till's queued sale is sent."""
    _, made = await simulator_client.post(
        "/integrations/transactions/hold",
        {"customerId": "cust-1001", "transactionTime": "2026-11-20T09:00:00Z", "pointsToHold": 40},
    )
    await simulator.set_down(True)
    code, queued = await finalize(
        sidecar,
        payment("cust-1001", "T-6", 10, redemption={"pointsHoldReference": made["holdReference"]}),
    )
    await simulator.set_down(False)
    await simulator_client.post(
        "/integrations/transactions/redeem",
        {
            "customerId": "cust-1001",
            "transactionId": "elsewhere",
            "transactionTime": "2026-11-20T09:01:00Z",
            "holdReference": made["holdReference"],
        },
    )
    await wait_drained(sidecar)

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert code == 202
    assert item["outcome"] == "redemption_failed" and "already used" in item["lastError"]
    assert (await status(sidecar))["outbox"]["redemptionFailed"] == 1
    redeemed = [t for t, kind, _ in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == ["elsewhere"]


# 4. "Already exists" (9004/9001) was trusted on a first send.


async def test_redeem_now_does_not_take_the_sale_id(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "rn-1", 100, redeemNow=True, transactionId="S1")

    code, body = await finalize(sidecar, payment("cust-1001", "S1", 50))

    assert held["redemption"] == {
        "transactionId": "S1",
        "redeemedPoints": 100.0,
        "redeemedAmount": 10.0,
    }
    assert code == 200 and body["rewardedPoints"] == 50 and body["outcome"] == "ok"
    kinds = [(t, kind) for t, kind, _ in ledger(simulator, "cust-1001")]
    assert ("S1", "PaymentReward") in kinds and ("redeem-S1", "Redemption") in kinds


async def test_second_redeem_now_with_the_same_transaction_id_is_refused(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await hold(sidecar, "rn-2", 100, redeemNow=True, transactionId="S2")

    response = await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            "customerId": "cust-1001",
            "checkoutId": "rn-3",
            "points": 300,
            "redeemNow": True,
            "transactionId": "S2",
        },
    )
    body = await response.json()
    await wait_drained(sidecar)

    assert response.status == 409
    assert_error_shape(body, "TRANSACTION_ID_TAKEN")
    redeemed = [p for _, kind, p in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == [100]
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == 400  # nothing held


async def test_payment_id_taken_elsewhere_is_409_and_a_dead_letter(
    sidecar: Client, simulator: SimulatorServer, simulator_client: Any
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


async def test_new_refund_id_on_a_fully_refunded_payment_is_409(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await finalize(sidecar, payment("cust-1001", "P-full", 20))
    first = await refund(sidecar, paymentId="P-full", refundId="R-full-1")

    code, body = await refund(sidecar, paymentId="P-full", refundId="R-full-2")

    assert first[0] == 200
    assert code == 409
    assert_error_shape(body, "ALREADY_REFUNDED")
    states = {i["refundId"]: i["state"] for i in await outbox_items(sidecar) if i["refundId"]}
    assert states == {"R-full-1": "delivered", "R-full-2": "dead"}


# 5. A lost redeem answer told the cashier nothing was redeemed.


async def test_lost_redeem_answer_is_found_out_within_the_budget(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("drop_response", paths=["/transactions/redeem"], count=1)

    held = await hold(sidecar, "lost-1", 100, redeemNow=True, transactionId="L1")

    assert held["state"] == "used" and held["redemption"]["redeemedPoints"] == 100
    redeemed = [p for _, kind, p in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == [100]


async def test_redeem_outcome_unknown_is_said_and_settled_for_the_resend(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_BUDGETS_HOLD="0.6"))
    request = {
        "customerId": "cust-1001",
        "checkoutId": "lost-2",
        "points": 100,
        "redeemNow": True,
        "transactionId": "L2",
    }
    simulator.sim.set_fault("blackhole", paths=["/transactions/redeem"])

    unknown = await sidecar.post("/v1/hold-and-redeem", json=request)
    unknown_body = await unknown.json()
    simulator.sim.clear_faults()
    await wait_until(lambda: bool(ledger(simulator, "cust-1001")), within=10)
    resent = await sidecar.post("/v1/hold-and-redeem", json=request)

    assert unknown.status == 503
    assert_error_shape(unknown_body, "REDEMPTION_OUTCOME_UNKNOWN")
    assert "resend" in unknown_body["error"]["message"]
    settled = await resent.json()
    assert resent.status == 200 and settled["redemption"]["redeemedPoints"] == 100
    redeemed = [p for _, kind, p in ledger(simulator, "cust-1001") if kind == "Redemption"]
    assert redeemed == [100]


# 7. Gameball's refusal of a sale while online was answered 2xx.


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


# 8. An identical resend was refused by the offline checks.


async def test_identical_resend_offline_gets_its_stored_outcome(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    first = await finalize(sidecar, payment("cust-2002", "big-1", 7000))
    await simulator.set_down(True)
    await _open_circuit(sidecar)

    again = await finalize(sidecar, payment("cust-2002", "big-1", 7000))
    fresh = await finalize(sidecar, payment("cust-2002", "big-2", 7000))

    assert first[0] == 200
    assert again == first
    assert fresh[0] == 503 and fresh[1]["error"]["code"] == "OFFLINE_PAYMENT_LIMIT"


# 9. Resending hold-and-redeem for a checkoutId returned a stale state.


async def test_resent_hold_shows_its_current_state(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    used = await hold(sidecar, "cur-1", 50)
    await finalize(
        sidecar,
        payment(
            "cust-1001", "cur-pay", 10, redemption={"pointsHoldReference": used["holdReference"]}
        ),
    )
    released = await hold(sidecar, "cur-2", 20)
    await sidecar.delete(f"/v1/holds/{released['holdReference']}")

    used_again = await hold(sidecar, "cur-1", 50)
    released_again = await hold(sidecar, "cur-2", 20)

    assert used["state"] == "active" and used_again["state"] == "used"
    assert released_again["state"] == "released"
    assert used_again["holdReference"] == used["holdReference"]


# 12. The offline clock restarted with the process.


async def test_offline_age_counts_from_the_last_success_across_restarts(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    now = [time.time()]
    clocks = Clocks(clock=lambda: now[0])
    config = make_config(SIDECAR_LIMITS_MAX_OFFLINE_AGE="600")
    first = await make_sidecar(config, clocks=clocks)
    assert (await finalize(first, payment("cust-1001", "age-1")))[0] == 200
    await first.close()
    await simulator.set_down(True)
    now[0] += 3600

    second = await make_sidecar(config, clocks=clocks)
    right_after_start = (await status(second))["connectivity"]
    code, body = await finalize(second, payment("cust-1001", "age-2"))

    assert right_after_start["state"] in ("unknown", "offline")
    assert right_after_start["lastSuccessAt"] is not None
    assert code == 503 and body["error"]["code"] == "OFFLINE_TOO_LONG"


async def test_state_is_unknown_until_gameball_first_answers(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("blackhole")
    sidecar = await make_sidecar()

    connectivity = (await status(sidecar))["connectivity"]
    simulator.sim.clear_faults()

    assert connectivity["state"] == "unknown" and connectivity["lastSuccessAt"] is None


async def _open_circuit(sidecar: Client) -> None:
    for n in range(3):
        await sidecar.get(f"/v1/customers/circuit-{n}/balance")
    assert (await status(sidecar))["connectivity"]["state"] == "offline"


async def store_row(
    data_dir: Path,
    *,
    kind: Any,
    key: str,
    customer: str,
    body: dict[str, Any],
    hold_reference: str | None = None,
) -> None:
    """A row as an earlier version stored it, straight into the outbox."""
    storage = await Database.open(data_dir)
    try:
        await Outbox(storage).enqueue(
            NewItem(
                kind=kind,
                idem_key=key,
                fingerprint=b"x",
                customer_id=customer,
                body=msgspec.json.encode(body),
                amount=float(body.get("totalPaid", 0)),
                hold_reference=hold_reference,
                hold_action="burn" if hold_reference else None,
            ),
            now=time.time(),
            claim=False,
        )
    finally:
        await storage.close()

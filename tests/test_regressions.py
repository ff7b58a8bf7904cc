"""Regression tests for defects found in review: each names the failure it guards against."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from sidecar.app import connectivity_key
from sidecar.simulator import SimulatorServer
from sidecar.store.database import DB_NAME
from tests.conftest import MakeConfig, MakeSidecar, assert_error_shape, wait_until
from tests.test_outbox import (
    finalize,
    hold,
    payment,
    payments_in_ledger,
    status,
    wait_drained,
    with_hold,
)

Client = TestClient[Any, Any]


async def test_replay_survives_a_database_locked_for_a_while(
    sidecar: Client, simulator: SimulatorServer, data_dir: Path
) -> None:
    await simulator.set_down(True)
    for n in range(3):
        await finalize(sidecar, payment(f"lock-{n}", f"lock-pay-{n}"))
    blocker = sqlite3.connect(data_dir / DB_NAME, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    await simulator.set_down(False)
    await asyncio.sleep(3)  # replay meets "database is locked" over and over
    blocker.rollback()
    blocker.close()

    await wait_drained(sidecar, within=20)

    assert sorted(payments_in_ledger(simulator)) == [f"lock-pay-{n}" for n in range(3)]


async def test_transient_error_while_reholding_is_retried_not_a_500(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "rh-1", 50)
    await simulator.set_down(True)
    _, queued = await finalize(
        sidecar,
        with_hold("rh-pay", 5, held),
    )
    simulator.sim.advance_clock(700)
    simulator.sim.set_fault("error5xx", paths=["/transactions/hold"], count=1)

    await simulator.set_down(False)
    await wait_drained(sidecar, within=20)
    code, later = await finalize(sidecar, payment("cust-1001", "rh-next", 5))

    item = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    assert item["state"] == "delivered" and item["outcome"] == "reheld"
    assert code == 200 and later["status"] == "delivered"  # the customer's lane is not stuck


async def test_hold_already_redeemed_is_not_burned_twice(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await hold(sidecar, "twice-1", 100, redeemNow=True, transactionId="twice-sale")
    before = simulator.sim.balance("cust-1001")["availablePointsBalance"]

    code, body = await finalize(
        sidecar,
        with_hold("twice-pay", 10, held),
    )

    assert held["state"] == "used"
    assert code == 409
    assert_error_shape(body, "HOLD_ALREADY_USED")  # refused: the till must not discount twice
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == before


async def test_released_hold_is_not_reheld(sidecar: Client, simulator: SimulatorServer) -> None:
    held = await hold(sidecar, "rel-then-pay", 100)
    await sidecar.delete(f"/v1/holds/{held['holdReference']}")
    before = simulator.sim.balance("cust-1001")["availablePointsBalance"]

    code, body = await finalize(
        sidecar,
        with_hold("rel-pay", 10, held),
    )

    assert code == 409
    assert_error_shape(body, "HOLD_RELEASED")
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == before


async def test_redeem_whose_answer_was_lost_succeeds_on_retry(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    request = {"redeemNow": True, "transactionId": "lost-redeem"}
    simulator.sim.set_fault("drop_response", paths=["/transactions/redeem"], count=1)
    first = await sidecar.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": "lr-1", "points": 100, **request},
    )

    second = await hold(sidecar, "lr-1", 100, **request)
    await wait_drained(sidecar)

    # The sidecar finds out within the budget that the redeem landed (the hold is used).
    assert first.status == 200 and (await first.json())["state"] == "used"
    assert second["state"] == "used" and second["redemption"]["redeemedPoints"] == 100
    balance = simulator.sim.balance("cust-1001")
    assert balance["availablePointsBalance"] == 400  # burned once, the spare hold released


async def test_hold_answered_after_budget_is_released(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_BUDGETS_HOLD="0.3"))
    simulator.sim.set_fault("slow", delay_seconds=0.8, paths=["/transactions/hold"], count=1)

    late = await sidecar.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": "slow-1", "points": 200},
    )

    assert late.status == 503
    assert_error_shape(await late.json(), "OFFLINE_REDEMPTION_UNAVAILABLE")
    await wait_until(
        lambda: simulator.sim.balance("cust-1001")["availablePointsBalance"] == 500, within=10
    )


async def test_waiting_under_the_rate_limit_is_not_a_gameball_failure(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(
            SIDECAR_PACING_PER_SECOND="2",
            SIDECAR_PACING_PER_30_SECONDS="3",
            SIDECAR_BUDGETS_FINALIZE="0.2",
        )
    )

    answers = [await finalize(sidecar, payment(f"rl-{n}", f"rl-pay-{n}")) for n in range(6)]

    assert sidecar.app is not None
    assert sidecar.app[connectivity_key].online
    assert all(code in (200, 202) for code, _ in answers)
    assert (await status(sidecar))["connectivity"]["state"] == "online"


async def test_refund_naming_another_customer_is_refused(sidecar: Client) -> None:
    await finalize(sidecar, payment("cust-1001", "own-pay", 20))

    response = await sidecar.post(
        "/v1/refund",
        json={"paymentId": "own-pay", "refundId": "wrong-ref", "customerId": "cust-2002"},
    )

    body = await response.json()
    assert response.status == 422 and body["error"]["details"][0]["field"] == "$.customerId"


async def test_absurd_dates_are_422_not_500(sidecar: Client) -> None:
    for when in ("0001-01-01T00:00:00+05:00", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        code, body = await finalize(
            sidecar, payment("c-date", f"date-{when[:4]}", paymentDate=when)
        )

        assert code == 422, body
        assert body["error"]["details"][0]["field"] == "$.paymentDate"


async def test_outcome_write_refused_by_the_disk_does_not_block_the_customer(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer, data_dir: Path
) -> None:
    sidecar = await make_sidecar(make_config(SIDECAR_BUDGETS_FINALIZE="0.2"))
    simulator.sim.set_fault("slow", delay_seconds=1.0, paths=["/integrations/payments"], count=1)
    _, first = await finalize(sidecar, payment("cust-1001", "w-1"))
    # Gameball takes the call while the database is locked: "delivered" cannot be written.
    blocker = sqlite3.connect(data_dir / DB_NAME, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    await asyncio.sleep(3.5)
    blocker.rollback()
    blocker.close()

    await finalize(sidecar, payment("cust-1001", "w-2"))
    await wait_drained(sidecar, within=30)

    assert first["status"] == "queued"
    assert payments_in_ledger(simulator, "cust-1001") == ["w-1", "w-2"]
    item = await (await sidecar.get(f"/v1/outbox/{first['outboxId']}")).json()
    assert item["state"] == "delivered"

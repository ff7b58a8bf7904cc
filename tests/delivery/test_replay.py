"""Replay end to end, through the app: what was queued reaches Gameball exactly once, in each
customer's order, paced, paused by a 429, held by a key alarm, dead-lettered when refused, and
not stopped by a database that is locked for a while."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from sidecar.app import components_key
from sidecar.clocks import Clocks
from sidecar.simulator import SimulatorServer
from sidecar.store.database import DB_NAME
from tests.support.clients import (
    Client,
    assert_error_shape,
    finalize,
    outbox_item,
    payment,
    payments_in_ledger,
    status,
)
from tests.support.clocks import FakeTime
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_drained, wait_until


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
    # A pause longer than half the finalize budget: a sale does not wait it out (a shorter one
    # it does, tests/delivery/test_dispatcher.py).
    sidecar = await make_sidecar(
        make_config(SIDECAR_PACING_PAUSE_ON_429="1.5", SIDECAR_BUDGETS_FINALIZE="1")
    )
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


async def test_replay_survives_a_database_locked_for_a_while(
    sidecar: Client, simulator: SimulatorServer, data_dir: Path
) -> None:
    await simulator.set_down(True)
    for n in range(3):
        await finalize(sidecar, payment(f"lock-{n}", f"lock-pay-{n}"))
    await fail_fast_when_locked(sidecar)
    blocker = sqlite3.connect(data_dir / DB_NAME, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    await simulator.set_down(False)
    await wait_until(lambda: replay_failing(sidecar), within=10)
    blocker.rollback()
    blocker.close()

    await wait_drained(sidecar, within=20)

    assert sorted(payments_in_ledger(simulator)) == [f"lock-pay-{n}" for n in range(3)]
    assert not await replay_failing(sidecar)


async def test_outcome_write_refused_by_the_disk_does_not_block_the_customer(
    make_sidecar: MakeSidecar,
    make_config: MakeConfig,
    simulator: SimulatorServer,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wall = FakeTime(wall=time.time())
    sidecar = await make_sidecar(
        make_config(SIDECAR_BUDGETS_FINALIZE="0.2"), clocks=Clocks(clock=wall.clock)
    )
    await fail_fast_when_locked(sidecar)
    simulator.sim.set_fault("slow", delay_seconds=0.5, paths=["/integrations/payments"], count=1)
    _, first = await finalize(sidecar, payment("cust-1001", "w-1"))
    # Gameball takes the call while the database is locked: "delivered" cannot be written.
    blocker = sqlite3.connect(data_dir / DB_NAME, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    await wait_until(lambda: "its outcome could not be written" in caplog.text, within=10)
    blocker.rollback()
    blocker.close()
    # Put back as a send whose outcome is unknown, due a few seconds on: move the clock there.
    await wait_until(lambda: item_state(sidecar, first["outboxId"], "pending"))
    wall.advance(10)

    await finalize(sidecar, payment("cust-1001", "w-2"))
    await wait_drained(sidecar)

    assert first["status"] == "queued"
    assert payments_in_ledger(simulator, "cust-1001") == ["w-1", "w-2"]
    item = await outbox_item(sidecar, first["outboxId"])
    assert item["state"] == "delivered" and item["outcome"] == "already"


async def fail_fast_when_locked(client: Client) -> None:
    """SQLite waits 2 s for a lock before it says "locked"; a tenth of that shows the same."""
    assert client.app is not None
    await client.app[components_key].database.execute("PRAGMA busy_timeout=200")


async def item_state(client: Client, item_id: int, state: str) -> bool:
    return bool((await outbox_item(client, item_id))["state"] == state)


async def replay_failing(client: Client) -> bool:
    return any("replay is failing" in line for line in (await status(client))["attention"])

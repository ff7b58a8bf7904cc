"""Redeeming at once (``redeemNow``): under an id of its own, never the sale's; a lost answer is
found out by asking again, and an outcome still unknown is said so and settled for the resend.
First the Redeemer itself on fake time against the real simulator, then the same through the
app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from sidecar import errors
from sidecar.checkout.keyedlock import KeyedLocks
from sidecar.checkout.redemption import Redeemer, redeem_id_for, stored_refusal
from sidecar.checkout.replies import HoldAnswer
from sidecar.errors import GameballError, GameballUnreachable
from sidecar.gameball.paths import hold_path
from sidecar.gameball.wire import GbBranch, GbMerchant
from sidecar.simulator import SimulatorServer
from sidecar.simulator.errors import STATUS_BY_CODE
from sidecar.store.database import Database
from sidecar.store.holdbook import HoldRow
from sidecar.timefmt import TransactionClock, iso_ms
from tests.support.clients import (
    Client,
    GameballClient,
    assert_error_shape,
    finalize,
    hold,
    ledger,
    payment,
)
from tests.support.clocks import FakeTime
from tests.support.delivery import Parts, delivery_parts
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_drained, wait_until

REDEEM = "/integrations/transactions/redeem"


@dataclass
class Background:
    """What the Redeemer spawns (a release, a settle later), run as tasks the test can await,
    and the holds it gave back."""

    parts: Parts
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    released: list[tuple[str, str]] = field(default_factory=list)

    async def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(work))

    async def release(self, reference: str, customer_id: str) -> None:
        self.released.append((reference, customer_id))
        try:
            await self.parts.upstream.call("DELETE", hold_path(reference), dict)
        except GameballError:
            pass

    async def settled(self) -> None:
        await asyncio.gather(*self.tasks)


@pytest.fixture
async def parts(
    simulator: SimulatorServer, database: Database, fake_time: FakeTime
) -> AsyncIterator[Parts]:
    async with delivery_parts(simulator, database, fake_time) as assembled:
        yield assembled


@pytest.fixture
async def background(parts: Parts) -> AsyncIterator[Background]:
    spawned = Background(parts)
    yield spawned
    for task in spawned.tasks:
        task.cancel()
    await asyncio.gather(*spawned.tasks, return_exceptions=True)


def redeemer(
    parts: Parts, background: Background, *, timer: Callable[[], float] | None = None
) -> Redeemer:
    return Redeemer(
        book=parts.book,
        upstream=parts.upstream,
        transaction_clock=TransactionClock(parts.time.clock),
        merchant=GbMerchant(uniqueId="merchant-42", branch=GbBranch(uniqueId="branch-7")),
        pacer=parts.pacer,
        budget=0.3,
        locks=KeyedLocks(),
        spawn=background.spawn,
        release=background.release,
        clock=parts.time.clock,
        timer=timer or parts.time.timer,
        sleep=parts.time.sleep,
    )


async def redeeming(parts: Parts, client: GameballClient, sale: str, points: int = 100) -> HoldRow:
    """A hold made at Gameball for cust-1001 and written down as being redeemed for ``sale``,
    as the checkout does before it sends the redeem."""
    status, held = await client.post(
        "/integrations/transactions/hold",
        {
            "customerId": "cust-1001",
            "transactionTime": iso_ms(parts.time.wall - 5),
            "pointsToHold": points,
        },
    )
    assert status == 200, held
    reference = str(held["holdReference"])
    answer = HoldAnswer(
        holdReference=reference,
        customerId="cust-1001",
        checkoutId=f"co-{sale}",
        holdPoints=points,
        holdAmount=points / 10,
        state="redeeming",
        stale=False,
    )
    await parts.book.add(
        hold_reference=reference,
        checkout_id=f"co-{sale}",
        fingerprint=b"basket",
        customer_id="cust-1001",
        hold_points=points,
        hold_amount=points / 10,
        state="redeeming",
        expires_at=None,
        answer=msgspec.json.encode(answer),
        now=parts.time.wall,
        redeem_id=redeem_id_for(sale),
    )
    row = await parts.book.by_reference(reference)
    assert row is not None
    return row


def redemptions(simulator: SimulatorServer) -> list[tuple[str, int]]:
    return [
        (e["transactionId"], e["points"])
        for e in simulator.sim.ledger("cust-1001")
        if e["type"] == "Redemption"
    ]


async def state_of(parts: Parts, row: HoldRow) -> str | None:
    found = await parts.book.by_reference(row.hold_reference)
    return found.state if found is not None else None


async def test_redeemer_settles_what_gameball_confirms(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S1")

    answer = await redeemer(parts, background).settle(
        row, parts.time.timer() + 5, remember_failure=False
    )

    assert answer.state == "used" and answer.redemption is not None
    assert (answer.redemption.transactionId, answer.redemption.redeemedPoints) == ("S1", 100)
    assert await state_of(parts, row) == "used"
    assert redemptions(simulator) == [("redeem-S1", 100)]  # under its own id, never "S1"
    assert background.released == []


async def test_redeemer_lost_answer_is_settled_by_finding_the_hold_used(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S2")
    simulator.sim.set_fault("drop_response", paths=[REDEEM], count=1)

    answer = await redeemer(parts, background).settle(
        row, parts.time.timer() + 5, remember_failure=False
    )

    settled = await parts.book.by_reference(row.hold_reference)
    assert answer.state == "used" and answer.redemption is not None
    assert answer.redemption.redeemedPoints == 100  # the hold's own points
    assert settled is not None and settled.state == "used" and settled.redeem_uncertain == 1
    assert redemptions(simulator) == [("redeem-S2", 100)]


async def test_redeemer_9004_after_a_send_in_doubt_means_it_landed(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S3")
    await parts.book.mark_redeem_uncertain(row.hold_reference, parts.time.wall)
    # The earlier send did land; the hold is used, and the id now exists.
    await simulator_client.post(
        REDEEM,
        {
            "customerId": "cust-1001",
            "transactionId": "redeem-S3",
            "transactionTime": iso_ms(parts.time.wall - 1),
            "holdReference": row.hold_reference,
        },
    )
    in_doubt = await parts.book.by_reference(row.hold_reference)
    assert in_doubt is not None

    answer = await redeemer(parts, background).settle(
        in_doubt, parts.time.timer() + 5, remember_failure=False
    )

    assert answer.state == "used" and await state_of(parts, row) == "used"
    assert redemptions(simulator) == [("redeem-S3", 100)]


async def test_redeemer_9006_after_a_send_in_doubt_whose_hold_cannot_be_looked_up_is_unknown(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Hold not found" after a send in doubt may be our own lost redeem having burned it: when
    the hold cannot be looked up, the outcome is unknown (settled in the background), never a
    refusal that gives the hold back and has the till take the sale without the points."""
    row = await redeeming(parts, simulator_client, "S3b")
    await parts.book.mark_redeem_uncertain(row.hold_reference, parts.time.wall)
    in_doubt = await parts.book.by_reference(row.hold_reference)
    assert in_doubt is not None
    simulator.sim.set_fault(
        "gameball_error", status=STATUS_BY_CODE[9006], code=9006, paths=[REDEEM]
    )
    call = parts.upstream.call

    async def look_ups_unanswered(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if method == "GET":
            raise GameballUnreachable("connection reset", outcome_unknown=False)
        return await call(method, path, *args, **kwargs)

    monkeypatch.setattr(parts.upstream, "call", look_ups_unanswered)

    with pytest.raises(errors.RedemptionOutcomeUnknown):
        await redeemer(parts, background).settle(
            in_doubt, parts.time.timer() + 5, remember_failure=False
        )

    assert await state_of(parts, row) == "redeeming"  # kept: settled when it can be known
    assert background.released == []


async def test_redeemer_9004_after_a_lost_answer_for_another_call_is_not_redeemed(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    # Another customer's redeem (another till) has the id; our send is refused, answer lost.
    await simulator_client.post(
        REDEEM,
        {
            "customerId": "cust-2002",
            "transactionId": "redeem-S9",
            "transactionTime": iso_ms(parts.time.wall - 9),
            "points": 5,
        },
    )
    row = await redeeming(parts, simulator_client, "S9")
    simulator.sim.set_fault("drop_response", paths=[REDEEM], count=1)

    with pytest.raises(errors.TransactionIdTaken):
        await redeemer(parts, background).settle(
            row, parts.time.timer() + 5, remember_failure=False
        )
    await background.settled()

    # Never told "redeemed": the hold was not burned, and it is given back.
    assert redemptions(simulator) == []
    assert background.released == [(row.hold_reference, "cust-1001")]


async def test_redeemer_9004_on_a_first_send_is_taken_and_gives_the_hold_back(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    await simulator_client.post(
        REDEEM,
        {
            "customerId": "cust-1001",
            "transactionId": "redeem-S4",
            "transactionTime": iso_ms(parts.time.wall - 9),
            "points": 5,
        },
    )
    row = await redeeming(parts, simulator_client, "S4")

    with pytest.raises(errors.TransactionIdTaken):
        await redeemer(parts, background).settle(
            row, parts.time.timer() + 5, remember_failure=False
        )
    await background.settled()

    assert background.released == [(row.hold_reference, "cust-1001")]
    assert await state_of(parts, row) is None  # forgotten: the POS may try again
    # Only the other call's 5 points are gone: the 100 held for this sale are available again.
    assert simulator.sim.balance("cust-1001")["availablePointsBalance"] == 495


async def test_redeemer_refusal_is_kept_for_the_resend_it_was_told_to_make(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S5")
    simulator.sim.set_fault(
        "gameball_error", status=STATUS_BY_CODE[3003], code=3003, paths=[REDEEM], count=1
    )

    with pytest.raises(errors.UpstreamRejected) as refused:
        await redeemer(parts, background).settle(row, parts.time.timer() + 5, remember_failure=True)
    await background.settled()

    kept = await parts.book.by_reference(row.hold_reference)
    assert kept is not None and kept.state == "failed"
    resend = stored_refusal(kept)
    assert (resend.status, resend.code, resend.upstream_code) == (
        refused.value.status,
        refused.value.code,
        3003,
    )
    assert background.released == [(row.hold_reference, "cust-1001")]


async def test_redeemer_never_sent_is_offline_and_gives_the_hold_back(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S6")
    await simulator.set_down(True)

    with pytest.raises(errors.OfflineRedemptionUnavailable):
        await redeemer(parts, background).settle(
            row, parts.time.timer() + 5, remember_failure=False
        )

    assert [reference for reference, _ in background.released] == [row.hold_reference]
    assert redemptions(simulator) == []


async def test_redeemer_asks_again_while_gameball_says_the_customer_is_busy(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S7")
    simulator.sim.set_fault(
        "gameball_error", status=STATUS_BY_CODE[2001], code=2001, paths=[REDEEM], count=2
    )

    answer = await redeemer(parts, background).settle(
        row, parts.time.timer() + 5, remember_failure=False
    )

    assert answer.state == "used" and redemptions(simulator) == [("redeem-S7", 100)]
    assert len(parts.time.slept) == 2 and all(0 < s <= 0.2 for s in parts.time.slept)


async def test_redeemer_outcome_unknown_past_the_budget_is_said_then_settled_in_the_background(
    parts: Parts,
    background: Background,
    simulator: SimulatorServer,
    simulator_client: GameballClient,
) -> None:
    row = await redeeming(parts, simulator_client, "S8")
    simulator.sim.set_fault("blackhole", paths=[REDEEM])
    # The budget is real time here: it bounds a call that never answers.
    settling = redeemer(parts, background, timer=time.monotonic)

    with pytest.raises(errors.RedemptionOutcomeUnknown):
        await settling.settle(row, time.monotonic() + 0.2, remember_failure=False)
    simulator.sim.clear_faults()
    await wait_until(lambda: state_is(parts, row, "used"), within=5)

    assert redemptions(simulator) == [("redeem-S8", 100)]  # once, whatever was asked again
    assert background.released == []


async def state_is(parts: Parts, row: HoldRow, state: str) -> bool:
    return await state_of(parts, row) == state


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


# Regression: "Already exists" (9004/9001) was trusted on a first send.


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


# Regression: a lost redeem answer told the cashier nothing was redeemed.


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

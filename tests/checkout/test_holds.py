"""POST /v1/hold-and-redeem and GET /v1/holds/{ref}: reserve points online, refuse fast offline."""

from __future__ import annotations

import time
from typing import Any

from sidecar.simulator import SimulatorServer
from sidecar.simulator.ratelimit import is_limited
from tests.support.clients import Client, assert_error_shape, finalize, hold, payment
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.spec import PREFIX
from tests.support.waits import wait_until


def hold_calls(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return [
        r
        for r in simulator.sim.requests
        if r["method"] == "POST" and r["path"].endswith("/transactions/hold")
    ]


async def available(simulator: SimulatorServer, customer_id: str) -> float:
    return float(simulator.sim.balance(customer_id)["availablePointsBalance"])


async def test_hold_reserves_points_and_reports_expiry(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    before = await available(simulator, "cust-1001")

    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "co-1", "points": 100}
    )

    body = await response.json()
    assert response.status == 200, body
    assert body["holdPoints"] == 100 and body["holdAmount"] == 10  # 0.1 money per point
    assert body["state"] == "active" and body["checkoutId"] == "co-1"
    assert body["expiresAt"].endswith("Z")
    assert await available(simulator, "cust-1001") == before - 100


async def test_hold_by_amount(sidecar: Client) -> None:
    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "co-2", "amount": 5}
    )

    body = await response.json()
    assert response.status == 200, body
    assert body["holdPoints"] == 50 and body["holdAmount"] == 5


async def test_hold_same_checkout_returns_stored_hold_without_second_call(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    request = {"customerId": "cust-1001", "checkoutId": "co-3", "points": 20}
    first = await (await sidecar.post("/v1/hold-and-redeem", json=request)).json()

    again = await sidecar.post("/v1/hold-and-redeem", json=request)

    assert again.status == 200
    assert (await again.json())["holdReference"] == first["holdReference"]
    assert len(hold_calls(simulator)) == 1


async def test_hold_same_checkout_different_basket_is_409(sidecar: Client) -> None:
    await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "co-4", "points": 20}
    )

    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "co-4", "points": 30}
    )

    assert response.status == 409
    assert_error_shape(await response.json(), "IDEMPOTENCY_CONFLICT")


async def test_hold_and_redeem_now_burns_the_points(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    response = await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            "customerId": "cust-1001",
            "checkoutId": "co-5",
            "points": 40,
            "redeemNow": True,
            "transactionId": "sale-5",
        },
    )

    body = await response.json()
    assert response.status == 200, body
    assert body["state"] == "used"
    assert body["redemption"] == {
        "transactionId": "sale-5",
        "redeemedPoints": 40,
        "redeemedAmount": 4,
    }
    ledger = simulator.sim.ledger("cust-1001")
    # Recorded at Gameball under an id of its own, so the sale's paymentId stays free.
    assert any(entry["transactionId"] == "redeem-sale-5" for entry in ledger)


async def test_hold_and_redeem_failure_releases_the_hold(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    before = await available(simulator, "cust-1001")
    simulator.sim.set_fault("gameball_error", status=422, code=3003, paths=["/transactions/redeem"])

    response = await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            "customerId": "cust-1001",
            "checkoutId": "co-6",
            "points": 40,
            "redeemNow": True,
            "transactionId": "sale-6",
        },
    )

    assert response.status == 422
    assert_error_shape(await response.json(), "UPSTREAM_REJECTED")
    simulator.sim.clear_faults()
    await wait_until(lambda: simulator.sim.balance("cust-1001")["availablePointsBalance"] == before)


async def test_hold_insufficient_points_is_422(sidecar: Client) -> None:
    response = await sidecar.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": "co-7", "points": 10_000_000},
    )

    body = await response.json()
    assert response.status == 422
    assert_error_shape(body, "INSUFFICIENT_POINTS")
    assert body["error"]["upstreamCode"] == 9008


async def test_hold_unknown_customer_is_404(sidecar: Client) -> None:
    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "nobody", "checkoutId": "co-8", "points": 1}
    )

    body = await response.json()
    assert response.status == 404
    assert_error_shape(body, "CUSTOMER_NOT_FOUND")
    assert body["error"]["upstreamCode"] == 7000


async def test_hold_offline_is_refused_at_once_and_retryable(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)

    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "co-9", "points": 5}
    )

    body = await response.json()
    assert response.status == 503
    assert_error_shape(body, "OFFLINE_REDEMPTION_UNAVAILABLE")
    assert body["error"]["retryable"] is True


async def test_hold_within_budget_when_gameball_black_holes(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_BUDGETS_HOLD="0.5", SIDECAR_UPSTREAM_TIMEOUT="30")
    )
    simulator.sim.set_fault("blackhole")

    started = time.monotonic()
    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "c-10", "points": 5}
    )
    elapsed = time.monotonic() - started

    assert response.status == 503
    assert_error_shape(await response.json(), "OFFLINE_REDEMPTION_UNAVAILABLE")
    assert elapsed < 5  # the upstream timeout is 30 s: the 0.5 s budget is what answered


async def test_hold_auth_failure_is_a_configuration_error(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("gameball_error", status=401, code=1000)

    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "c-11", "points": 5}
    )

    body = await response.json()
    assert response.status == 502
    assert_error_shape(body, "UPSTREAM_AUTH_FAILED")
    assert "test-secret-key" not in body["error"]["message"]


async def test_hold_status_live_then_expired(sidecar: Client, simulator: SimulatorServer) -> None:
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "c-12", "points": 10},
        )
    ).json()
    reference = held["holdReference"]

    live = await (await sidecar.get(f"/v1/holds/{reference}")).json()
    simulator.sim.advance_clock(601)
    expired = await sidecar.get(f"/v1/holds/{reference}")

    assert live["state"] == "active" and live["stale"] is False
    assert live["holdPoints"] == 10 and live["checkoutId"] == "c-12"
    expired_body = await expired.json()
    assert expired.status == 200, expired_body
    assert expired_body["state"] == "expired" and expired_body["stale"] is False


async def test_hold_status_offline_is_last_known_and_stale(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "c-13", "points": 10},
        )
    ).json()
    await simulator.set_down(True)

    response = await sidecar.get(f"/v1/holds/{held['holdReference']}")

    body = await response.json()
    assert response.status == 200
    assert body["stale"] is True and body["state"] == "active" and "asOf" in body


async def test_hold_status_unknown_reference_is_404(sidecar: Client) -> None:
    response = await sidecar.get("/v1/holds/00000000-0000-0000-0000-000000000000")

    body = await response.json()
    assert response.status == 404
    assert_error_shape(body, "HOLD_NOT_FOUND")


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


# Regression: resending hold-and-redeem for a checkoutId returned a stale state.


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


async def test_resent_hold_whose_lookup_gameball_refuses_is_told_what_is_known_here(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    used = await hold(sidecar, "look-1", 50)
    await finalize(
        sidecar,
        payment(
            "cust-1001", "look-pay", 10, redemption={"pointsHoldReference": used["holdReference"]}
        ),
    )
    # A refusal of the lookup itself (here a 9008 on GET hold) says nothing about the hold.
    simulator.sim.set_fault(
        "gameball_error", status=422, code=9008, paths=["/integrations/transactions/hold"]
    )

    again = await sidecar.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": "look-1", "points": 50},
    )

    body = await again.json()
    assert again.status == 200, body  # never "insufficient points" for a hold already used
    assert body["state"] == "used" and body["stale"] is True


async def test_a_holds_expiry_look_up_is_paced_on_the_rate_budget_like_the_hold(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    """Each hold is two calls on Gameball's transactions budget (the hold, then the look-up of
    its expiry). Counted as one, the sale after it went at once into a second already full."""
    sidecar = await make_sidecar(
        make_config(SIDECAR_PACING_PER_SECOND="2", SIDECAR_BUDGETS_FINALIZE="3")
    )

    held = await hold(sidecar, "co-paced", 10)
    code, body = await finalize(sidecar, payment("cust-1002", "after-the-hold"))

    assert held["state"] == "active", held
    assert code == 200, body
    sent = [r["time"] for r in simulator.sim.requests if is_limited(r["path"].removeprefix(PREFIX))]
    assert len(sent) == 3  # the hold, its look-up, the sale
    assert sent[2] - sent[0] >= 1.0  # two a second, as the sidecar was told


def expiry_look_ups(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return [
        r
        for r in simulator.sim.requests
        if r["method"] == "GET" and "/transactions/hold/" in r["path"]
    ]


async def test_a_hold_waits_for_no_slot_to_learn_its_expiry(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    """The hold is made: its expiry is worth a slot free now, not one waited for, which spent
    the budget the cashier's sale still needs. Without one, the configured lifetime."""
    sidecar = await make_sidecar(make_config(SIDECAR_PACING_PER_SECOND="1"))

    held = await hold(sidecar, "co-no-slot", 10)

    assert held["state"] == "active" and held["expiresAt"].endswith("Z"), held
    assert expiry_look_ups(simulator) == []


async def test_a_hold_redeemed_at_once_is_not_looked_up_for_its_expiry(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """Its redeem needs the slot: the look-up took it, and at a busy second the redeem waited."""
    held = await hold(sidecar, "co-now-no-look-up", 10, redeemNow=True, transactionId="s-now")

    assert held["state"] == "used", held
    assert expiry_look_ups(simulator) == []


async def test_hold_status_unknown_here_while_gameball_limits_the_rate_is_busy_not_404(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """A 429 says nothing about the hold: "not found" would have the till give up on it."""
    simulator.sim.set_fault("ratelimit", paths=["/transactions/hold/"])

    response = await sidecar.get("/v1/holds/00000000-0000-0000-0000-000000000001")

    body = await response.json()
    assert response.status == 503, body
    assert_error_shape(body, "UPSTREAM_BUSY")

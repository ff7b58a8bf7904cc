"""Spending points while Gameball is unreachable, through the app against the simulator: off by
default; when the merchant enables it, a provisional hold within each cap, taken off the last
known balance, held at Gameball when its sale is replayed, and what Gameball then refuses
delivered earn-only with the value the till discounted (the merchant's)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sidecar.app import components_key
from sidecar.simulator import SimulatorServer
from tests.support.clients import (
    Client,
    assert_error_shape,
    finalize,
    go_offline,
    hold,
    json_object,
    offline_after_balance,
    outbox_item,
    payment,
    status,
    with_hold,
)
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.waits import wait_drained, wait_until

ENABLED = {"SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true"}
HOLD = "/integrations/transactions/hold"


async def offline_till(
    make_sidecar: MakeSidecar,
    make_config: MakeConfig,
    simulator: SimulatorServer,
    *customers: str,
    **env: str,
) -> Client:
    """A till with offline redemption on that read these customers' balances (cust-1001's
    when none are named), then lost Gameball."""
    sidecar = await make_sidecar(make_config(**ENABLED, **env))
    for customer in customers or ("cust-1001",):
        response = await sidecar.get(f"/v1/customers/{customer}/balance")
        assert response.status == 200
    await simulator.set_down(True)
    await go_offline(sidecar)
    return sidecar


async def balance(sidecar: Client, customer: str = "cust-1001") -> dict[str, Any]:
    return await json_object(await sidecar.get(f"/v1/customers/{customer}/balance"))


def holds_made(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return [r for r in simulator.sim.requests if r["path"].endswith(HOLD) and r["method"] == "POST"]


def redemptions(simulator: SimulatorServer, customer: str = "cust-1001") -> list[tuple[Any, int]]:
    return [
        (e["transactionId"], e["points"])
        for e in simulator.sim.ledger(customer)
        if e["type"] == "Redemption"
    ]


async def test_offline_redemption_is_off_unless_the_merchant_enables_it(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await offline_after_balance(sidecar, simulator)  # cust-1001: 500 points

    response = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-1001", "checkoutId": "k-1", "points": 10}
    )

    assert response.status == 503
    assert_error_shape(await response.json(), "OFFLINE_REDEMPTION_UNAVAILABLE")
    assert (await status(sidecar))["offlineRedemption"]["enabled"] is False


async def test_offline_hold_is_provisional_taken_off_the_balance_and_burned_at_replay(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)

    held = await hold(sidecar, "k-1", 100)
    shown = await balance(sidecar)
    code, paid = await finalize(sidecar, with_hold("p-off-1", 20, held))
    exposed = (await status(sidecar))["offlineRedemption"]
    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert held["provisional"] is True and held["state"] == "active"
    assert held["holdReference"].startswith("provisional-") and held["holdPoints"] == 100
    assert shown["availablePointsBalance"] == 400
    assert shown["provisionalPoints"] == 100
    assert code == 202 and paid["status"] == "queued"
    assert exposed["outstandingPoints"] == 100 and exposed["outstandingValue"] > 0
    # At replay: held at Gameball for the same customer, then burned by the sale, once.
    assert len(holds_made(simulator)) == 1
    assert redemptions(simulator) == [("p-off-1", 100)]
    item = await outbox_item(sidecar, paid["outboxId"])
    assert item["state"] == "delivered" and item["outcome"] == "reheld"
    after = (await status(sidecar))["offlineRedemption"]
    assert after["outstandingPoints"] == 0 and after["absorbedPoints"] == 0
    assert (await balance(sidecar))["availablePointsBalance"] == 420  # 500 - 100 + 20 earned


@pytest.mark.parametrize(
    ("env", "points", "cap"),
    [
        ({}, 501, "max_points_per_checkout"),
        (
            {"SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_CHECKOUT": "400"},
            300,
            "max_share_of_balance",
        ),
    ],
)
async def test_offline_hold_past_a_cap_is_refused_and_names_the_cap(
    make_sidecar: MakeSidecar,
    make_config: MakeConfig,
    simulator: SimulatorServer,
    env: dict[str, str],
    points: int,
    cap: str,
) -> None:
    simulator.sim.seed_customer("cust-1001", points=2000) if points > 500 else None
    sidecar = await offline_till(make_sidecar, make_config, simulator, **env)

    refused = await sidecar.post(
        "/v1/hold-and-redeem",
        json={"customerId": "cust-1001", "checkoutId": "k-cap", "points": points},
    )

    body = await refused.json()
    assert refused.status == 503
    assert_error_shape(body, "OFFLINE_REDEMPTION_LIMIT")
    assert cap in body["error"]["message"]
    assert (await status(sidecar))["offlineRedemption"]["outstandingPoints"] == 0


async def test_offline_holds_of_one_customer_add_up_against_the_share_of_the_balance(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)

    first = await hold(sidecar, "k-a", 200)
    over_share = await hold(sidecar, "k-b", 100)  # 300 of 500 > half
    await sidecar.delete(f"/v1/holds/{first['holdReference']}")  # given back: spends nothing
    second = await hold(sidecar, "k-c", 250)

    assert first["provisional"] and second["provisional"]
    assert over_share["error"]["code"] == "OFFLINE_REDEMPTION_LIMIT"
    assert "max_share_of_balance" in over_share["error"]["message"]


async def test_offline_holds_of_one_customer_add_up_against_the_day(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(
        make_sidecar,
        make_config,
        simulator,
        SIDECAR_OFFLINE_REDEMPTION_MAX_SHARE_OF_BALANCE="1",
        SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_CUSTOMER_PER_DAY="300",
    )

    first = await hold(sidecar, "k-a", 200)
    over_day = await hold(sidecar, "k-b", 150)  # 200 + 150 > 300 today, though 500 are there

    assert first["provisional"]
    assert over_day["error"]["code"] == "OFFLINE_REDEMPTION_LIMIT"
    assert "max_points_per_customer_per_day" in over_day["error"]["message"]


async def test_offline_holds_of_the_terminal_add_up_against_its_daily_cap(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    simulator.sim.seed_customer("cust-2002", points=500)
    sidecar = await offline_till(
        make_sidecar,
        make_config,
        simulator,
        "cust-1001",
        "cust-2002",
        SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_TERMINAL_PER_DAY="300",
    )

    first = await hold(sidecar, "k-1", 200)
    other = await sidecar.post(
        "/v1/hold-and-redeem", json={"customerId": "cust-2002", "checkoutId": "k-2", "points": 150}
    )

    body = await other.json()
    assert first["provisional"]
    assert other.status == 503 and "max_points_per_terminal_per_day" in body["error"]["message"]


async def test_offline_hold_without_a_recent_balance_is_refused(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator, "cust-2002")

    never_seen = await hold(sidecar, "k-1", 10)

    assert never_seen["error"]["code"] == "OFFLINE_REDEMPTION_UNAVAILABLE"
    assert "recent balance" in never_seen["error"]["message"]


async def test_offline_hold_with_a_balance_older_than_allowed_is_refused(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(
        make_sidecar, make_config, simulator, SIDECAR_OFFLINE_REDEMPTION_MAX_BALANCE_AGE="0.001"
    )

    too_old = await hold(sidecar, "k-1", 10)

    assert too_old["error"]["code"] == "OFFLINE_REDEMPTION_UNAVAILABLE"


async def test_offline_points_spent_elsewhere_meanwhile_are_redemption_failed_with_their_value(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)
    held = await hold(sidecar, "k-1", 200)
    code, paid = await finalize(sidecar, with_hold("p-off-2", 20, held))
    # Meanwhile the customer spent almost everything at another store.
    simulator.sim.seed_customer("cust-1001", points=50)

    await simulator.set_down(False)
    await wait_drained(sidecar)

    item = await outbox_item(sidecar, paid["outboxId"])
    report = (await status(sidecar))["offlineRedemption"]
    assert code == 202
    assert item["state"] == "delivered" and item["outcome"] == "redemption_failed"
    assert item["absorbedPoints"] == 200 and item["absorbedValue"] == held["holdAmount"]
    assert redemptions(simulator) == []  # nothing redeemed, the sale earned
    assert report["absorbedPoints"] == 200 and report["absorbedValue"] == held["holdAmount"]
    assert report["outstandingPoints"] == 0
    assert sidecar.app is not None
    exported = await sidecar.app[components_key].view.export("csv", outcome="redemption_failed")
    assert "absorbedValue" in exported.splitlines()[0] and "p-off-2" in exported


async def test_offline_redeem_now_is_queued_and_redeemed_once_at_replay(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)
    request = {"redeemNow": True, "transactionId": "t-off-1"}

    redeemed = await hold(sidecar, "k-1", 100, **request)
    again = await hold(sidecar, "k-1", 100, **request)
    reused = await hold(sidecar, "k-2", 50, **request)
    await simulator.set_down(False)
    await wait_drained(sidecar)

    assert redeemed["state"] == "used" and redeemed["provisional"] is True
    assert redeemed["redemption"]["redeemedPoints"] == 100
    assert again["holdReference"] == redeemed["holdReference"] and again["state"] == "used"
    assert reused["error"]["code"] == "TRANSACTION_ID_TAKEN"
    assert redemptions(simulator) == [("redeem-t-off-1", 100)]
    assert holds_made(simulator) == []  # a redeem by points: no hold at Gameball at all


async def test_offline_hold_released_is_given_back_here_without_gameball(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)
    held = await hold(sidecar, "k-1", 100)

    released = await sidecar.delete(f"/v1/holds/{held['holdReference']}")
    looked_up = await json_object(await sidecar.get(f"/v1/holds/{held['holdReference']}"))
    code, paid = await finalize(sidecar, with_hold("p-late", 20, held))

    body = await released.json()
    assert released.status == 200 and body["outcome"] == "released_here"
    assert looked_up["state"] == "released"
    assert (await balance(sidecar))["availablePointsBalance"] == 500
    assert code == 409 and paid["error"]["code"] in ("HOLD_RELEASED", "HOLD_NOT_ACTIVE")


async def test_offline_hold_that_lapsed_is_no_longer_taken_off_the_balance(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(
        make_sidecar, make_config, simulator, SIDECAR_HOLDS_DEFAULT_TTL="0.05"
    )
    held = await hold(sidecar, "k-1", 100)
    await asyncio.sleep(0.1)

    looked_up = await json_object(await sidecar.get(f"/v1/holds/{held['holdReference']}"))

    assert held["provisional"]
    assert looked_up["state"] == "expired"
    assert (await balance(sidecar))["availablePointsBalance"] == 500
    assert (await status(sidecar))["offlineRedemption"]["outstandingPoints"] == 0


async def test_restart_after_the_rehold_and_a_lost_answer_burns_the_points_once(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)
    held = await hold(sidecar, "k-1", 100)
    code, paid = await finalize(sidecar, with_hold("p-off-3", 20, held))
    # Back: the re-hold goes through, the sale lands, and its answer is lost; then a restart.
    simulator.sim.set_fault("drop_response", paths=["/integrations/payments"], count=1)
    await simulator.set_down(False)
    await wait_until(
        lambda: any(r["path"].endswith("/integrations/payments") for r in simulator.sim.requests)
    )
    await sidecar.close()

    restarted = await make_sidecar(make_config(**ENABLED))
    await wait_drained(restarted)

    item = await outbox_item(restarted, paid["outboxId"])
    assert code == 202 and item["state"] == "delivered"
    assert redemptions(simulator) == [("p-off-3", 100)]  # once
    assert len(holds_made(simulator)) == 1  # never held twice
    assert (await status(restarted))["offlineRedemption"]["outstandingPoints"] == 0


async def test_offline_sale_naming_another_customers_provisional_hold_is_refused(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    sidecar = await offline_till(make_sidecar, make_config, simulator)
    held = await hold(sidecar, "k-1", 100)

    code, body = await finalize(
        sidecar,
        payment(
            "cust-2002", "p-foreign", 20, redemption={"pointsHoldReference": held["holdReference"]}
        ),
    )

    assert code in (403, 409, 422) and "error" in body
    assert (await status(sidecar))["offlineRedemption"]["outstandingPoints"] == 100

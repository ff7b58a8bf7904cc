"""Customers over a real socket: registration stores the attributes and earns the welcome bonus
once; a referral code rewards both sides; the refusals Gameball documents."""

from __future__ import annotations

from typing import Any

import aiohttp

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.rules import Programme
from tests.support.clients import GameballClient
from tests.support.gameball import balance, expect_error, payment
from tests.support.spec import validate_request, validate_response

CUSTOMERS = "/integrations/customers"
ATTRIBUTES = {
    "displayName": "Jane D.",
    "firstName": "Jane",
    "lastName": "Doe",
    "dateOfBirth": "1990-04-01",
    "gender": "F",
    "preferredLanguage": "ar",
    "city": "Cairo",
    "custom": {"loyaltyCard": "LC-7", "visits": 3},
}


def customer(customer_id: str, **extra: Any) -> dict[str, Any]:
    return {"customerId": customer_id, **extra}


def achievements(simulator: SimulatorServer, customer_id: str) -> list[tuple[str, int]]:
    return [
        (row["achievementName"], row["points"])
        for row in simulator.sim.ledger(customer_id)
        if row["type"] == "AchievementReward"
    ]


async def referral_code(client: GameballClient, customer_id: str) -> str:
    _, answer = await client.get(f"{CUSTOMERS}/{customer_id}")
    return str(answer["referralCode"])


async def test_customer_registration_stores_attributes_and_earns_the_welcome_bonus(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = customer(
        "jane", email="jane@example.com", mobile="+201000000", customerAttributes=ATTRIBUTES
    )
    validate_request("POST", CUSTOMERS, body)

    status, answer = await simulator_client.post(CUSTOMERS, body)
    _, stored = await simulator_client.control("GET", "/customers/jane")

    assert status == 200
    validate_response("POST", CUSTOMERS, 200, answer)
    assert isinstance(answer["gameballId"], int)
    assert stored["customerAttributes"] == ATTRIBUTES
    assert (stored["email"], stored["mobile"], stored["guest"]) == (
        "jane@example.com",
        "+201000000",
        False,
    )
    assert achievements(simulator, "jane") == [("Welcome bonus", 50)]
    (row,) = simulator.sim.ledger("jane")
    assert "transactionId" not in row and row["achievementType"] == "welcome"
    assert (await balance(simulator_client, "jane"))["availablePointsBalance"] == 50


async def test_customer_update_merges_attributes_and_earns_nothing_more(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post(CUSTOMERS, customer("jane", customerAttributes=ATTRIBUTES))

    status, answer = await simulator_client.post(
        CUSTOMERS,
        customer(
            "jane",
            email="new@example.com",
            customerAttributes={"city": "Giza", "custom": {"visits": 4}},
        ),
    )
    stored = simulator.sim.customer("jane")

    assert status == 200 and answer["gameballId"] == stored["gameballId"]
    assert stored["customerAttributes"]["city"] == "Giza"
    assert stored["customerAttributes"]["firstName"] == "Jane"
    assert stored["customerAttributes"]["custom"] == {"loyaltyCard": "LC-7", "visits": 4}
    assert stored["email"] == "new@example.com"
    assert achievements(simulator, "jane") == [("Welcome bonus", 50)]


async def test_customer_first_seen_through_a_payment_gets_no_welcome_bonus(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post("/integrations/payments", payment("shopper", "pay-first", 10))

    status, _ = await simulator_client.post(
        CUSTOMERS, customer("shopper", customerAttributes={"gender": "M"})
    )

    assert status == 200
    assert achievements(simulator, "shopper") == []
    assert simulator.sim.customer("shopper")["customerAttributes"] == {"gender": "M"}


async def test_customer_guest_earns_the_bonus_only_when_signing_up(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post(CUSTOMERS, customer("guest-1", guest=True))
    as_guest = achievements(simulator, "guest-1")
    _, public = await simulator_client.get(f"{CUSTOMERS}/guest-1")

    await simulator_client.post(CUSTOMERS, customer("guest-1", guest=False))
    await simulator_client.post(CUSTOMERS, customer("guest-1"))

    assert as_guest == [] and "referralCode" not in public
    assert achievements(simulator, "guest-1") == [("Welcome bonus", 50)]
    assert simulator.sim.customer("guest-1")["guest"] is False


async def test_customer_referral_rewards_the_referrer_and_the_friend(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    code = await referral_code(simulator_client, "cust-1001")

    status, _ = await simulator_client.post(
        CUSTOMERS, customer("friend", referrerCode=code.lower())
    )
    _, public = await simulator_client.get(f"{CUSTOMERS}/friend")

    assert status == 200
    assert achievements(simulator, "friend") == [
        ("Welcome bonus", 50),
        ("Referred by a friend", 50),
    ]
    assert achievements(simulator, "cust-1001") == [("Refer a friend", 100)]
    assert (await balance(simulator_client, "cust-1001"))["availablePointsBalance"] == 600
    assert public["isReferred"] is True
    assert simulator.sim.customer("friend")["referredBy"] == "cust-1001"


async def test_customer_referral_sent_again_is_harmless_but_cannot_be_added_later(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    code = await referral_code(simulator_client, "cust-1001")
    other = await referral_code(simulator_client, "cust-2002")
    await simulator_client.post(CUSTOMERS, customer("friend", referrerCode=code))

    again, _ = await simulator_client.post(CUSTOMERS, customer("friend", referrerCode=code))
    await expect_error(
        simulator_client, "POST", CUSTOMERS, customer("friend", referrerCode=other), 422, 7002
    )
    await expect_error(
        simulator_client, "POST", CUSTOMERS, customer("cust-3003", referrerCode=code), 422, 7002
    )

    assert again == 200
    assert achievements(simulator, "cust-1001") == [("Refer a friend", 100)]


async def test_customer_unknown_referral_code_is_7003_and_creates_nobody(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.post(CUSTOMERS, customer("guest-ref", guest=True))
    guest_code = simulator.sim.customer("guest-ref")["referralCode"]

    await expect_error(
        simulator_client, "POST", CUSTOMERS, customer("newbie", referrerCode="NOPE1234"), 404, 7003
    )
    await expect_error(
        simulator_client,
        "POST",
        CUSTOMERS,
        customer(
            "newbie", referrerCode=await referral_code(simulator_client, "cust-1001"), guest=True
        ),
        422,
        7006,
    )

    assert guest_code is None  # a guest has no code to share
    await expect_error(simulator_client, "GET", f"{CUSTOMERS}/newbie", None, 404, 7000)
    assert simulator.sim.ledger("newbie") == []


async def test_customer_read_shows_no_personal_data_and_needs_no_secret(
    simulator_client: GameballClient,
) -> None:
    await simulator_client.post(
        CUSTOMERS, customer("jane", email="jane@example.com", customerAttributes=ATTRIBUTES)
    )

    status, answer = await simulator_client.call(
        "GET", f"{CUSTOMERS}/jane", headers={"APIKey": "only-the-key"}
    )

    assert status == 200
    validate_response("GET", "/integrations/customers/{customerId}", 200, answer)
    assert answer["customerAttributes"] == {
        "gender": "F",
        "city": "Cairo",
        "custom": {"loyaltyCard": "LC-7", "visits": 3},
    }
    assert "jane@example.com" not in str(answer) and "Jane" not in str(answer)
    assert len(answer["referralCode"]) == 8 and answer["isReferred"] is False


async def test_customer_welcome_and_referral_points_follow_the_programme() -> None:
    sim = Simulator(programme=Programme(welcome_points=0, referrer_points=7, friend_points=0))
    server = SimulatorServer(sim)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = GameballClient(session, server)
            code = await referral_code(client, "cust-2002")
            await client.post(CUSTOMERS, customer("friend", referrerCode=code))
    finally:
        await server.stop()

    assert sim.ledger("friend") == []
    assert [row["points"] for row in sim.ledger("cust-2002")] == [7]


async def test_control_spends_points_at_another_store_as_a_redemption_of_its_own(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    spent = await simulator_client.control("POST", "/customers/cust-1001/spend", {"points": 120})
    again = await simulator_client.control("POST", "/customers/cust-1001/spend", {"points": 30})
    too_much = await simulator_client.control("POST", "/customers/cust-1001/spend", {"points": 999})
    unknown = await simulator_client.control("POST", "/customers/nobody/spend", {"points": 1})

    assert spent[0] == 200 and spent[1]["balance"]["availablePointsBalance"] == 380
    assert again[1]["balance"]["availablePointsBalance"] == 350
    assert (too_much[0], too_much[1]["code"]) == (422, 9008)
    assert (unknown[0], unknown[1]["code"]) == (404, 7000)
    rows = [(r["type"], r["transactionId"], r["points"]) for r in simulator.sim.ledger("cust-1001")]
    assert rows == [("Redemption", "elsewhere-1", 120), ("Redemption", "elsewhere-2", 30)]


def test_points_spent_elsewhere_twice_in_one_millisecond_take_the_next_free_one() -> None:
    sim = Simulator(clock=lambda: 1_800_000_000.0, seed_demo=False)
    sim.seed_customer("cust-x", points=100)

    sim.spend_elsewhere("cust-x", 10)
    sim.spend_elsewhere("cust-x", 20)

    rows = sim.ledger("cust-x")
    assert [r["points"] for r in rows] == [10, 20]
    assert rows[0]["transactionTime"] != rows[1]["transactionTime"]

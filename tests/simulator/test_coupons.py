"""Coupons over a real socket: validation of each seeded case in Gameball's order of checks,
locks that expire and cannot be taken twice, release, and burning through a payment."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.retail_bodies import ValidateCoupons
from sidecar.simulator.rules import Programme
from tests.support.clients import GameballClient
from tests.support.gameball import expect_error, payment
from tests.support.spec import validate_request, validate_response

VALIDATE = "/integrations/coupons/validate"
RELEASE = "/integrations/coupons/{lockReference}"


def validate(*codes: str, customer_id: str = "cust-1001", **extra: Any) -> dict[str, Any]:
    return {"customerId": customer_id, "coupons": list(codes), **extra}


async def locked(client: GameballClient, *codes: str, customer_id: str = "cust-1001") -> str:
    status, answer = await client.post(
        VALIDATE, validate(*codes, customer_id=customer_id, lock=True)
    )
    assert status == 200, answer
    return str(answer["lockReference"])


async def test_coupons_valid_codes_answer_their_details_per_the_spec(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = validate(" save10", "pct15", totalPurchaseAmount=80, merchantId="m-1")
    validate_request("POST", VALIDATE, body)

    status, answer = await simulator_client.post(VALIDATE, body)

    assert status == 200
    validate_response("POST", VALIDATE, 200, answer)
    assert answer["valid"] is True
    assert [(c["code"], c["type"], c["value"]) for c in answer["coupons"]] == [
        ("SAVE10", "fixed", 10),
        ("PCT15", "percentage", 15),
    ]
    assert "lockReference" not in answer and "dateToExpire" not in answer
    assert simulator.sim.state.coupons.snapshot()["locks"] == []


@pytest.mark.parametrize(
    ("codes", "extra", "status", "code"),
    [
        (["EXPIRED5"], {}, 422, 9013),
        (["MIN50"], {"totalPurchaseAmount": 49.99}, 422, 9017),
        (["USED20"], {}, 422, 9012),
        (["NO-SUCH"], {}, 404, 4004),
        (["SAVE10", "FREESHIP"], {}, 422, 9011),  # FREESHIP combines with no order discount
        (["SAVE10", "save10"], {}, 400, 4000),
        ([], {}, 400, 3000),
        (["PCT15", "EXPIRED5"], {"lock": True}, 422, 9013),
    ],
)
async def test_coupons_the_first_failing_code_ends_the_call_and_locks_nothing(
    simulator_client: GameballClient,
    simulator: SimulatorServer,
    codes: list[str],
    extra: dict[str, Any],
    status: int,
    code: int,
) -> None:
    answer = await expect_error(
        simulator_client, "POST", VALIDATE, validate(*codes, **extra), status, code
    )

    assert answer["message"]
    assert simulator.sim.state.coupons.snapshot()["locks"] == []


async def test_coupons_minimum_purchase_is_checked_only_against_an_amount_sent(
    simulator_client: GameballClient,
) -> None:
    without, _ = await simulator_client.post(VALIDATE, validate("MIN50"))
    enough, _ = await simulator_client.post(VALIDATE, validate("MIN50", totalPurchaseAmount=50))

    assert (without, enough) == (200, 200)


async def test_coupons_used_by_one_customer_stay_valid_for_another(
    simulator_client: GameballClient,
) -> None:
    status, answer = await simulator_client.post(
        VALIDATE, validate("USED20", customer_id="cust-2002")
    )

    assert (status, answer["valid"]) == (200, True)


async def test_coupons_unknown_customer_is_7000(simulator_client: GameballClient) -> None:
    await expect_error(
        simulator_client, "POST", VALIDATE, validate("SAVE10", customer_id="ghost"), 404, 7000
    )


async def test_coupons_a_locked_code_validates_but_cannot_be_locked_again_until_it_expires(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    status, first = await simulator_client.post(VALIDATE, validate("PCT15", lock=True))

    plain, _ = await simulator_client.post(VALIDATE, validate("PCT15", customer_id="cust-2002"))
    await expect_error(
        simulator_client,
        "POST",
        VALIDATE,
        validate("PCT15", customer_id="cust-2002", lock=True),
        422,
        9011,
    )
    await expect_error(simulator_client, "POST", VALIDATE, validate("PCT15", lock=True), 422, 9011)
    simulator.sim.advance_clock(600)
    relocked, second = await simulator_client.post(
        VALIDATE, validate("PCT15", customer_id="cust-2002", lock=True)
    )

    assert status == 200
    validate_response("POST", VALIDATE, 200, first)
    assert first["lockReference"] and first["dateToExpire"].endswith("Z")
    assert plain == 200
    assert relocked == 200 and second["lockReference"] != first["lockReference"]


async def test_coupons_an_existing_lock_takes_more_codes_and_is_checked_first(
    simulator_client: GameballClient,
) -> None:
    reference = await locked(simulator_client, "PCT15")

    status, answer = await simulator_client.post(
        VALIDATE, validate("SAVE10", lock=True, lockReference=reference, lockDuration=30)
    )
    await expect_error(
        simulator_client,
        "POST",
        VALIDATE,
        validate("SAVE10", customer_id="cust-2002", lockReference=reference),
        422,
        9009,
    )
    await expect_error(
        simulator_client, "POST", VALIDATE, validate("SAVE10", lockReference="nope"), 404, 4004
    )

    two = {"couponsLockReference": reference, "couponCodes": ["pct15", "SAVE10"]}
    burned, _ = await simulator_client.post(
        "/integrations/payments", payment("cust-1001", "pay-two", 50, redemption=two)
    )

    assert (status, answer["lockReference"]) == (200, reference)
    assert burned == 200  # one lock, both codes


@pytest.mark.parametrize(
    ("minutes", "status", "code"), [(-1, 422, 9015), (0, 400, 4000), (21_600, 400, 4000)]
)
async def test_coupons_lock_duration_out_of_range_is_refused(
    simulator_client: GameballClient, minutes: int, status: int, code: int
) -> None:
    body = validate("PCT15", lock=True, lockDuration=minutes)

    await expect_error(simulator_client, "POST", VALIDATE, body, status, code)


def test_coupons_lock_duration_sets_the_expiry() -> None:
    sim = Simulator(clock=lambda: 1_728_640_000.0, programme=Programme(coupon_lock_ttl_seconds=60))

    default = sim.state.validate_coupons(_body(validate("SAVE10", lock=True)))
    custom = sim.state.validate_coupons(_body(validate("PCT15", lock=True, lockDuration=90)))

    assert default["dateToExpire"] == "2024-10-11T09:47:40.000Z"  # 60 s, the programme's
    assert custom["dateToExpire"] == "2024-10-11T11:16:40.000Z"  # 90 minutes


async def test_coupons_release_frees_the_codes_once(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await locked(simulator_client, "PCT15", "SAVE10")
    path = f"/integrations/coupons/{reference}"

    status, answer = await simulator_client.delete(path)
    relock, _ = await simulator_client.post(
        VALIDATE, validate("PCT15", customer_id="cust-2002", lock=True)
    )

    assert status == 200
    validate_response("DELETE", RELEASE, 200, answer)
    assert (answer["success"], answer["releasedCoupons"]) == (True, ["PCT15", "SAVE10"])
    assert relock == 200
    await expect_error(simulator_client, "DELETE", path, None, 422, 9009)
    await expect_error(
        simulator_client, "DELETE", "/integrations/coupons/never-made", None, 404, 4004
    )
    burn = payment("cust-1001", "pay-released", 5, redemption={"couponsLockReference": reference})
    await expect_error(simulator_client, "POST", "/integrations/payments", burn, 422, 9009)
    assert simulator.sim.ledger("cust-1001") == []


async def test_coupons_an_expired_lock_cannot_be_released(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await locked(simulator_client, "PCT15")
    simulator.sim.advance_clock(601)

    await expect_error(
        simulator_client, "DELETE", f"/integrations/coupons/{reference}", None, 422, 9009
    )


async def test_coupons_a_payment_burns_the_lock_once_and_uses_the_codes_for_the_customer(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await locked(simulator_client, "SAVE10")
    redemption = {"couponsLockReference": reference, "couponCodes": ["SAVE10"]}

    status, _ = await simulator_client.post(
        "/integrations/payments", payment("cust-1001", "pay-coupon", 40, redemption=redemption)
    )

    assert status == 200
    again = payment("cust-1001", "pay-coupon-2", 40, redemption=redemption)
    await expect_error(simulator_client, "POST", "/integrations/payments", again, 422, 9010)
    await expect_error(simulator_client, "POST", VALIDATE, validate("SAVE10"), 422, 9012)
    other, _ = await simulator_client.post(VALIDATE, validate("SAVE10", customer_id="cust-2002"))
    assert other == 200
    (save10,) = [
        c for c in simulator.sim.state.coupons.snapshot()["coupons"] if c["code"] == "SAVE10"
    ]
    assert save10["usedBy"] == {"cust-1001": 1}


async def test_coupons_another_customers_lock_cannot_be_burned(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    reference = await locked(simulator_client, "PCT15", customer_id="cust-2002")
    body = payment("cust-1001", "pay-steal", 5, redemption={"couponsLockReference": reference})

    await expect_error(simulator_client, "POST", "/integrations/payments", body, 422, 9009)

    assert simulator.sim.ledger() == []


async def test_coupons_control_adds_coupons_and_reset_restores_the_seeds(
    simulator_client: GameballClient,
) -> None:
    added = await simulator_client.control(
        "POST",
        "/coupons",
        {
            "coupon": {"code": "VIP5", "type": "fixed", "value": 5, "customerId": "cust-2002"},
            "usedBy": {},
        },
    )
    soon = await simulator_client.control(
        "POST",
        "/coupons",
        {"coupon": {"code": "SOON", "type": "fixed", "startDate": "2999-01-01T00:00:00Z"}},
    )
    mine, _ = await simulator_client.post(VALIDATE, validate("VIP5", customer_id="cust-2002"))
    theirs = await expect_error(simulator_client, "POST", VALIDATE, validate("VIP5"), 422, 9011)
    await expect_error(simulator_client, "POST", VALIDATE, validate("SOON"), 422, 9011)
    bad = await simulator_client.control(
        "POST", "/coupons", {"coupon": {"code": "X", "type": "gift"}}
    )
    await simulator_client.control("POST", "/reset")
    _, listed = await simulator_client.control("GET", "/coupons")

    assert (added[0], soon[0], mine) == (200, 200, 200)
    assert "another customer" in theirs["message"]
    assert bad[0] == 400
    assert [c["code"] for c in listed["coupons"]] == [
        "SAVE10",
        "PCT15",
        "EXPIRED5",
        "MIN50",
        "USED20",
        "FREESHIP",
    ]


def _body(raw: dict[str, Any]) -> ValidateCoupons:
    return msgspec.convert(raw, ValidateCoupons)

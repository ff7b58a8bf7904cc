"""What the sidecar sends to Gameball fits Gameball's own OpenAPI spec, and every simulator answer
the sidecar reads fits it too."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import msgspec

from sidecar.simulator import SimulatorServer
from sidecar.store.database import Database
from sidecar.store.outbox import Outbox
from sidecar.store.rows import NewItem
from tests.support.clients import Client, GameballClient
from tests.support.fixtures import MakeSidecar
from tests.support.gameball import retail_traffic, served_operations
from tests.support.spec import validate_request, validate_response
from tests.support.waits import wait_until

TEMPLATES = [
    (
        re.compile(r"^/api/v4\.0/integrations/transactions/hold/[^/]+$"),
        "/integrations/transactions/hold/{holdReferenceId}",
    ),
    (
        re.compile(r"^/api/v4\.0/integrations/customers/[^/]+/balance$"),
        "/integrations/customers/{customerId}/balance",
    ),
    (
        re.compile(r"^/api/v4\.0/integrations/customers/[^/]+$"),
        "/integrations/customers/{customerId}",
    ),
    (
        re.compile(r"^/api/v4\.0/integrations/coupons/(?!validate$)[^/]+$"),
        "/integrations/coupons/{lockReference}",
    ),
]


def template(path: str) -> str:
    for pattern, name in TEMPLATES:
        if pattern.match(path):
            return name
    return path.removeprefix("/api/v4.0")


async def checkout_traffic(sidecar: Client, simulator: SimulatorServer) -> None:
    await sidecar.post(
        "/v1/estimate-points",
        json={
            "customerId": "cust-1001",
            "totalPaid": 50,
            "totalTax": 5,
            "paymentDetails": [{"serviceId": "s1", "amount": 50, "tags": ["hot"]}],
        },
    )
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "k-1", "points": 10},
        )
    ).json()
    await sidecar.get(f"/v1/holds/{held['holdReference']}")
    await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            "customerId": "cust-1001",
            "checkoutId": "k-2",
            "amount": 2,
            "redeemNow": True,
            "transactionId": "sale-k-2",
        },
    )
    await sidecar.get("/v1/customers/cust-1001/balance")
    await wait_until(
        lambda: any("customerId" in (r["query"] or {}) for r in simulator.sim.requests)
    )


async def test_contract_every_upstream_request_fits_the_spec(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await checkout_traffic(sidecar, simulator)

    sent = [r for r in simulator.sim.requests if r["path"].startswith("/api/v4.0/")]

    operations = {(r["method"], template(r["path"])) for r in sent}
    assert {
        ("POST", "/integrations/payments/cashback"),
        ("POST", "/integrations/transactions/hold"),
        ("GET", "/integrations/transactions/hold/{holdReferenceId}"),
        ("POST", "/integrations/transactions/redeem"),
        ("GET", "/integrations/customers/{customerId}/balance"),
        ("GET", "/integrations/configurations/cashback"),
    } <= operations
    for request in sent:
        if request["method"] == "POST":
            validate_request("POST", template(request["path"]), request["json"])


async def sidecar_sales(sidecar: Client) -> None:
    """A sale burning a hold, its refund, and a hold released: the sidecar's other calls."""
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-2002", "checkoutId": "ans-1", "points": 20},
        )
    ).json()
    paid = await sidecar.post(
        "/v1/finalize-payment",
        json={
            "customerId": "cust-2002",
            "paymentId": "ans-pay",
            "totalPaid": 40,
            "redemption": {"pointsHoldReference": held["holdReference"]},
            "paymentDetails": [{"serviceId": "s1", "amount": 40, "extra": {"size": "L"}}],
        },
    )
    refunded = await sidecar.post(
        "/v1/refund", json={"paymentId": "ans-pay", "refundId": "ans-ref", "amount": 10}
    )
    released = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-2002", "checkoutId": "ans-2", "points": 5},
        )
    ).json()
    gone = await sidecar.delete(f"/v1/holds/{released['holdReference']}")
    assert [paid.status, refunded.status, gone.status] == [200, 200, 200], await gone.text()


async def test_contract_every_simulator_answer_fits_the_spec(
    sidecar: Client, simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    await checkout_traffic(sidecar, simulator)
    await sidecar_sales(sidecar)
    # What the sidecar never calls, asked directly.
    direct = [
        await simulator_client.post(
            "/integrations/transactions/cashback",
            {
                "customerId": "cust-3003",
                "transactionId": "ans-cb",
                "transactionTime": "2024-10-11T10:00:00.000Z",
                "amount": 12.5,
            },
        ),
        await simulator_client.get("/integrations/configurations/redemption"),
        await simulator_client.get("/integrations/transactions", {"customerId": "cust-2002"}),
        # The retail calls (orders, customers, coupons, manual points), one each.
        *await retail_traffic(simulator_client),
    ]

    answered = [r for r in simulator.sim.requests if r["path"].startswith("/api/v4.0/")]

    assert [status for status, _ in direct] == [200] * len(direct)
    assert {(r["method"], template(r["path"])) for r in answered} == served_operations(simulator)
    for entry in answered:
        assert entry["status"] == 200, entry
        validate_response(entry["method"], template(entry["path"]), 200, entry["response"])


async def test_contract_sales_and_refunds_send_no_nulls_the_spec_does_not_allow(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """A payment burning a hold sent `couponsLockReference: null`; refund lines sent `tags`,
    `taxes`, `quantity` ... as null. Gameball's spec declares none of them nullable."""
    held = await (
        await sidecar.post(
            "/v1/hold-and-redeem",
            json={"customerId": "cust-1001", "checkoutId": "nul-1", "points": 10},
        )
    ).json()
    paid = await sidecar.post(
        "/v1/finalize-payment",
        json={
            "customerId": "cust-1001",
            "paymentId": "nul-pay",
            "totalPaid": 30,
            "redemption": {"pointsHoldReference": held["holdReference"]},
            "paymentDetails": [{"serviceId": "s1", "amount": 30}],
        },
    )
    refunded = await sidecar.post(
        "/v1/refund",
        json={
            "paymentId": "nul-pay",
            "refundId": "nul-ref",
            "lineItems": [{"productId": "s1", "price": 5}],
        },
    )

    assert paid.status == 200 and refunded.status == 200, await refunded.text()
    for request in simulator.sim.requests:
        if request["method"] == "POST" and request["path"].startswith("/api/v4.0/"):
            validate_request("POST", template(request["path"]), request["json"])


FULL_LINE = {
    "serviceId": "s-9",
    "serviceName": "Espresso",
    "serviceProvider": "Corner Shop",
    "amount": 30,
    "tax": 3,
    "discount": 1.5,
    "tags": ["hot"],
    "category": ["drinks"],
    "extra": {"size": "L", "shots": 2},
}


async def test_contract_every_optional_field_a_pos_sends_reaches_gameball_within_the_spec(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """Every field the local API takes, set at once: the strict simulator judges what goes out
    (and the fixture fails this test on any request outside the spec)."""
    customer = {"customerId": "cust-2002"}
    estimate = await sidecar.post(
        "/v1/estimate-points",
        json={
            **customer,
            "totalPaid": 30,
            "totalAmount": 33,
            "totalDiscount": 1.5,
            "totalTax": 3,
            "totalProcessingFees": 0.5,
            "paymentDetails": [FULL_LINE],
        },
    )
    held = await sidecar.post(
        "/v1/hold-and-redeem",
        json={**customer, "checkoutId": "opt-1", "amount": 2, "ignoreOTP": True, "otp": "1234"},
    )
    redeemed = await sidecar.post(
        "/v1/hold-and-redeem",
        json={
            **customer,
            "checkoutId": "opt-2",
            "points": 10,
            "hash": "h-1",
            "redeemNow": True,
            "transactionId": "opt-redeem",
        },
    )
    paid = await sidecar.post(
        "/v1/finalize-payment",
        json={
            **customer,
            "paymentId": "opt-pay",
            "paymentDate": "2026-11-20T11:15:00.5+02:00",
            "totalPaid": 30,
            "totalAmount": 33,
            "totalDiscount": 1.5,
            "totalTax": 3,
            "totalProcessingFees": 0.5,
            "paymentDetails": [FULL_LINE],
            "redemption": {"pointsHoldReference": (await held.json())["holdReference"]},
            "guest": False,
            "email": "jane@example.com",
            "mobile": "+201000000000",
            "extra": {"receipt": "r-77", "lane": 3},
            "cashbackConfigurations": {"returnWindow": 0},
        },
    )
    refunded = await sidecar.post(
        "/v1/refund",
        json={
            **customer,
            "paymentId": "opt-pay",
            "refundId": "opt-ref",
            "amount": 5,
            "refundDate": "2026-11-20T10:30:00Z",
            "lineItems": [
                {
                    "productId": "s-9",
                    "quantity": 1,
                    "price": 5,
                    "sku": "ESP-L",
                    "tags": ["hot"],
                    "category": ["drinks"],
                    "title": "Espresso",
                    "taxes": 0.5,
                    "discount": 0.25,
                    "extra": {"size": "L", "shots": 2},
                }
            ],
        },
    )
    rest = await sidecar.post("/v1/refund", json={"paymentId": "opt-pay", "refundId": "opt-all"})

    statuses = [r.status for r in (estimate, held, redeemed, paid, refunded, rest)]
    assert statuses == [200] * 6, [await r.text() for r in (paid, refunded, rest)]
    assert simulator.sim.spec_violations == []


async def test_contract_rows_queued_with_nulls_are_cleaned_when_sent(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path
) -> None:
    """Rows stored by an earlier version kept the nulls; they are dropped at send."""
    storage = await Database.open(data_dir)
    body = {
        "customerId": "cust-1001",
        "paymentId": "old-row",
        "paymentDate": "2026-11-20T09:15:00.123Z",
        "totalPaid": 12,
        "redemption": {"couponsLockReference": None, "couponCodes": None},
        "extra": {"terminalId": "till-3"},
    }
    await Outbox(storage).enqueue(
        NewItem(
            kind="payment",
            idem_key="payment:old-row",
            fingerprint=b"x",
            customer_id="cust-1001",
            body=msgspec.json.encode(body),
            amount=12,
        ),
        now=time.time(),
        claim=False,
    )
    await storage.close()

    sidecar = await make_sidecar()
    await wait_until(lambda: bool(payments(simulator)))

    (sent,) = payments(simulator)
    validate_request("POST", "/integrations/payments", sent)
    assert sent["redemption"] == {} and sent["extra"] == {"terminalId": "till-3"}
    await sidecar.close()


def payments(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return [
        r["json"] for r in simulator.sim.requests if r["path"].endswith("/integrations/payments")
    ]

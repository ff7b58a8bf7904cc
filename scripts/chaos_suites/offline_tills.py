"""Tills for the offline-redemption suite: while Gameball is down, each serves one shopper,
checkout after checkout, with points: an offline hold then the sale burning it (a payment or a
retail order), a redeem-now, a basket abandoned and its hold given back, or a shopper who walks
away from the hold; retrying every call until the sidecar answers, as a POS does, and
remembering each offline hold the till was given."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scripts.chaos_suites.common import Answer, call


@dataclass
class Held:
    """One offline hold the till was answered: what it stands for, and what became of it."""

    reference: str
    customer: str
    points: int
    amount: float
    redeem_id: str | None = None  # a redeem-now's id at Gameball (redeem-<transactionId>)
    sale: tuple[str, str] | None = None  # (kind, id) of the sale that burns it
    released: bool = False


@dataclass
class Ledger:
    """What the tills were told."""

    checkouts: int = 0
    held: dict[str, Held] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)  # by code (and the cap named)
    sales: dict[str, str] = field(default_factory=dict)  # acknowledged sale id -> customer
    unexpected: list[str] = field(default_factory=list)
    interrupted: int = 0


CAP_NAMES = (
    "max_points_per_checkout",
    "max_share_of_balance",
    "max_points_per_customer_per_day",
    "max_points_per_terminal_per_day",
)


class OfflineTill:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        customer: str,
        ledger: Ledger,
        *,
        checkouts: int,
        rng: random.Random,
    ) -> None:
        self._session = session
        self._url = url
        self._customer = customer
        self._ledger = ledger
        self._checkouts = checkouts
        self._rng = rng

    async def run(self) -> None:
        for n in range(self._checkouts):
            what = self._rng.random()
            points = self._rng.choice([20, 40, 60, 100, 150, 200])
            checkout = f"{self._customer}-k{n:03d}"
            if what < 0.15:
                await self._redeem_now(checkout, points, f"{self._customer}-t{n:03d}")
            else:
                held = await self._hold(checkout, points)
                if held is None:
                    pass
                elif what < 0.25:
                    await self._release(held)
                elif what < 0.3:
                    pass  # the shopper walked away: the hold lapses at its expiry
                else:
                    await self._sale(held, n, order=what > 0.8)
            await asyncio.sleep(self._rng.uniform(0.01, 0.1))

    async def _hold(self, checkout: str, points: int, **extra: Any) -> Held | None:
        self._ledger.checkouts += 1
        body = {"customerId": self._customer, "checkoutId": checkout, "points": points, **extra}
        answer = await self._call("POST", "/v1/hold-and-redeem", body)
        if answer.status == 200 and answer.body.get("provisional") is True:
            held = Held(
                reference=str(answer.body["holdReference"]),
                customer=self._customer,
                points=points,
                amount=float(answer.body["holdAmount"]),
            )
            self._ledger.held.setdefault(held.reference, held)
            return self._ledger.held[held.reference]
        if answer.code == "OFFLINE_REDEMPTION_LIMIT":
            message = str(answer.body["error"]["message"])
            named = next((cap for cap in CAP_NAMES if cap in message), "unnamed")
            self._ledger.refused[named] += 1
        elif answer.code in ("INSUFFICIENT_POINTS", "OFFLINE_REDEMPTION_UNAVAILABLE"):
            self._ledger.refused[answer.code] += 1
        else:
            self._ledger.unexpected.append(f"hold {body} -> {answer.status} {answer.body}")
        return None

    async def _redeem_now(self, checkout: str, points: int, transaction: str) -> None:
        held = await self._hold(checkout, points, redeemNow=True, transactionId=transaction)
        if held is not None:
            held.redeem_id = f"redeem-{transaction}"

    async def _release(self, held: Held) -> None:
        answer = await self._call("DELETE", f"/v1/holds/{held.reference}", None)
        if answer.status == 200:
            held.released = True
        else:
            self._ledger.unexpected.append(f"release {held.reference} -> {answer.status}")

    async def _sale(self, held: Held, n: int, *, order: bool) -> None:
        paid = 10 + n % 25
        redemption = {"pointsHoldReference": held.reference}
        if order:
            sale_id, path = f"{self._customer}-o{n:03d}", "/v1/finalize-order"
            body: dict[str, Any] = {
                "customerId": self._customer,
                "orderId": sale_id,
                "totalPaid": paid,
                "lineItems": [{"productId": "mug", "quantity": 1, "price": paid}],
            }
        else:
            sale_id, path = f"{self._customer}-p{n:03d}", "/v1/finalize-payment"
            body = {"customerId": self._customer, "paymentId": sale_id, "totalPaid": paid}
        answer = await self._call("POST", path, body | {"redemption": redemption})
        if answer.ok:
            held.sale = ("order" if order else "payment", sale_id)
            self._ledger.sales[sale_id] = self._customer
        else:
            self._ledger.unexpected.append(f"{path} {sale_id} -> {answer.status} {answer.code}")

    async def _call(self, method: str, path: str, body: Any) -> Answer:
        """Until the sidecar answers (it may be restarting); a 503 that stored nothing (an
        offline limit) is retried too, but the hold's own refusals are answers."""
        while True:
            answer = await call(self._session, method, self._url + path, body, within=10)
            if answer.status == 0:
                self._ledger.interrupted += 1
                await asyncio.sleep(0.1)
                continue
            retryable = answer.status == 503 and path != "/v1/hold-and-redeem"
            if not retryable:
                return answer
            await asyncio.sleep(0.2)

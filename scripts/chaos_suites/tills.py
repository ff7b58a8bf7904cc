"""Simulated tills for the chaos suites: each serves one customer in order, with every kind of
call the sidecar queues (payments, some burning held points; retail orders with line items, some
burning a hold and a coupon lock; refunds of both; cashback; manual points; customer upserts,
a newcomer's registration first; coupon locks given back), retries a call until it gets an
answer, as a POS does, and remembers what the sidecar acknowledged so the simulator's ledger
can be checked (scripts/chaos_suites/traffic.py)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp

from scripts.chaos_suites.traffic import Call, Record
from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.coupons import CouponSpec
from tests.support.processes import SidecarProcess

# Every NEWCOMER-th till serves a shopper Gameball has never seen, registered there first.
NEWCOMER = 5
# Refusals a valid call may get and be tried again: nothing was stored (a POS retries).
RETRIED = 503
LINES = (("mug", 2, 0.6), ("tee", 1, 0.4))


def coupon_code(customer: str) -> str:
    """One coupon code per till, so that one till's lock never blocks another's."""
    return f"CPN-{customer}".upper()


class Till:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        customer: str,
        record: Record,
        *,
        sales: int,
        think: tuple[float, float],
        rng: random.Random,
        newcomer: bool = False,
    ) -> None:
        self._session = session
        self._url = base_url
        self._customer = customer
        self._record = record
        self._sales = sales
        self._think = think
        self._rng = rng
        self._newcomer = newcomer
        record.calls.setdefault(customer, [])

    async def run(self) -> None:
        if self._newcomer:
            await self._upsert(0, {"customerAttributes": {"displayName": self._customer}})
        for n in range(self._sales):
            step = n % 8
            if step == 0:
                await self._order(n, burn=n % 16 == 0)
            elif step == 2:
                await self._points("cashback", n, {"amount": 5 + n % 20})
            elif step == 4:
                body = {"username": "manager.amal", "reason": "goodwill", "points": 5 + n % 7}
                await self._points("manual", n, body)
            elif step == 5:
                await self._lock_and_release(n)
            elif step == 6:
                await self._upsert(n, {"customerAttributes": {"city": f"City {n}"}})
            else:
                await self._payment(n, burn=step == 1)
            await asyncio.sleep(self._rng.uniform(*self._think))

    async def _payment(self, n: int, *, burn: bool) -> None:
        payment_id = f"{self._customer}-p{n:03d}"
        body: dict[str, Any] = {
            "customerId": self._customer,
            "paymentId": payment_id,
            "totalPaid": 5 + n % 20,
        }
        if burn:
            reference = await self._hold(f"{self._customer}-co{n:03d}")
            if reference is not None:
                body["redemption"] = {"pointsHoldReference": reference}
        if await self._stored(Call("payment", payment_id), "/v1/finalize-payment", body):
            self._record.holds_used += "redemption" in body
            if n % 7 == 3:
                refund = {"paymentId": payment_id, "refundId": f"{payment_id}-r", "amount": 2}
                await self._refund(refund, payment_id)

    async def _order(self, n: int, *, burn: bool) -> None:
        order_id = f"{self._customer}-o{n:03d}"
        paid = 20 + n % 30
        body: dict[str, Any] = {
            "customerId": self._customer,
            "orderId": order_id,
            "totalPaid": paid,
            "totalPrice": paid,
            "lineItems": [
                {"productId": p, "quantity": q, "price": round(share * paid / q, 2)}
                for p, q, share in LINES
            ],
        }
        redemption: dict[str, Any] = {}
        if burn:
            reference = await self._hold(f"{self._customer}-oc{n:03d}")
            if reference is not None:
                redemption["pointsHoldReference"] = reference
            lock = await self._lock()
            if lock is not None:
                redemption |= {"couponsLockReference": lock, "couponCodes": [self._code]}
        if redemption:
            body["redemption"] = redemption
        if await self._stored(Call("order", order_id), "/v1/finalize-order", body):
            self._record.holds_used += "pointsHoldReference" in redemption
            self._record.locks_used += "couponsLockReference" in redemption
            refund = {
                "orderId": order_id,
                "refundId": f"{order_id}-r",
                "lineItems": [{"productId": "mug", "quantity": 1}],
            }
            await self._refund(refund, order_id)

    async def _refund(self, body: dict[str, Any], sale_id: str) -> None:
        status, _ = await self.call("POST", "/v1/refund", body)
        if self._acknowledged("POST /v1/refund", status):
            self._record.refunds[body["refundId"]] = sale_id

    async def _points(self, kind: str, n: int, fields: dict[str, Any]) -> None:
        tx = f"{self._customer}-{kind[0]}{n:03d}"
        body = {"customerId": self._customer, "transactionId": tx, **fields}
        path = "/v1/finalize-cashback" if kind == "cashback" else "/v1/manual-points"
        await self._stored(Call(kind, tx), path, body)

    async def _upsert(self, n: int, body: dict[str, Any]) -> None:
        call = Call("customer", f"{self._customer}#{n}", body)
        await self._stored(call, f"/v1/customers/{self._customer}", body, method="PUT")

    async def _lock_and_release(self, n: int) -> None:
        """A basket abandoned after its coupon was locked: the lock is given back."""
        lock = await self._lock()
        if lock is None:
            return
        status, _ = await self.call("DELETE", f"/v1/coupons/locks/{lock}", None)
        if self._acknowledged("DELETE /v1/coupons/locks", status):
            self._record.releases[lock] = self._customer

    @property
    def _code(self) -> str:
        return coupon_code(self._customer)

    async def _lock(self) -> str | None:
        body = {
            "customerId": self._customer,
            "coupons": [self._code],
            "totalPurchaseAmount": 50,
            "lock": True,
        }
        status, answer = await self.call("POST", "/v1/coupons/validate", body, retry=False)
        return answer.get("lockReference") if status == 200 else None

    async def _hold(self, checkout_id: str) -> str | None:
        body = {"customerId": self._customer, "checkoutId": checkout_id, "points": 5}
        status, answer = await self.call("POST", "/v1/hold-and-redeem", body, retry=False)
        return answer.get("holdReference") if status == 200 else None

    async def _stored(
        self, call: Call, path: str, body: dict[str, Any], *, method: str = "POST"
    ) -> bool:
        status, _ = await self.call(method, path, body)
        if self._acknowledged(f"{method} {path}", status):
            self._record.calls[self._customer].append(call)
            return True
        return False

    def _acknowledged(self, what: str, status: int) -> bool:
        if status in (200, 202):
            return True
        # A valid call of this till refused: the cashier would be told something false.
        self._record.unexpected.append(f"{what} of {self._customer} -> {status}")
        return False

    async def call(
        self, method: str, path: str, body: Any, *, retry: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """Retry until the sidecar answers (it may be down); then return what it said. A 503
        (nothing stored) is tried again too, unless ``retry`` is off (redemption and coupons,
        which the cashier skips while offline)."""
        while True:
            started = time.monotonic()
            try:
                async with self._session.request(
                    method, self._url + path, json=body, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    answer = await response.json()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                self._record.interrupted += 1
                await asyncio.sleep(0.1)
                continue
            waited = time.monotonic() - started
            self._record.calls_made += 1
            self._record.longest_wait = max(self._record.longest_wait, waited)
            if status >= 500 and status != RETRIED:
                self._record.unexpected.append(f"{method} {path} -> {status} {answer}")
            if status == RETRIED and retry:
                await asyncio.sleep(0.2)
                continue
            return status, answer


async def seeded_simulator(prefix: str, customers: int) -> SimulatorServer:
    """The simulator with these customers holding points to redeem (but the newcomers, whom
    Gameball meets at their registration) and a coupon each, rate limits off (the sidecar's
    pacing is not what these suites measure)."""
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await simulator.start()
    for n in range(customers):
        customer = f"{prefix}-{n:03d}"
        if n % NEWCOMER != NEWCOMER - 1:
            simulator.sim.seed_customer(customer, points=10_000)
        simulator.sim.add_coupon(CouponSpec(code=coupon_code(customer), type="fixed", value=1))
    return simulator


def sidecar_in(tmp: str, simulator: SimulatorServer, **env: str) -> SidecarProcess:
    """A quiet sidecar process with its database and log in ``tmp``, pointed at the simulator."""
    return SidecarProcess(
        base_url=simulator.base_url,
        data_dir=Path(tmp) / "data",
        log_path=Path(tmp) / "sidecar.log",
        SIDECAR_SIDECAR_LOG_LEVEL="WARNING",
        **env,
    )


def start_tills(
    session: aiohttp.ClientSession,
    url: str,
    prefix: str,
    customers: int,
    record: Record,
    *,
    sales: int,
    think: tuple[float, float],
    rng: random.Random,
) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(
            Till(
                session,
                url,
                f"{prefix}-{n:03d}",
                record,
                sales=sales,
                think=think,
                rng=random.Random(rng.random()),
                newcomer=n % NEWCOMER == NEWCOMER - 1,
            ).run()
        )
        for n in range(customers)
    ]

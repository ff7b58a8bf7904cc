"""Suite 3, fault matrix: every class of Gameball answer (delivered, already applied after an
unknown outcome, id taken on a first send, pause, retry, alarm, dead letter), a refund stored
before its payment, and both expired-hold paths, injected one at a time into a real sidecar
process; prints fault -> final state -> expected."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from scripts.chaos_suites.common import spec_violations
from scripts.chaos_suites.tills import sidecar_in
from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

Action = Callable[[], Awaitable[int]]


class Matrix:
    def __init__(self, session: aiohttp.ClientSession, sidecar: SidecarProcess) -> None:
        self.session = session
        self.sidecar = sidecar
        self.rows: list[tuple[str, str, str, bool]] = []

    async def post(
        self, path: str, body: dict[str, Any], *, refused: str | None = None
    ) -> dict[str, Any]:
        """``refused``: the error code this call must be answered with (a dead letter the POS
        hears about at once), instead of a 2xx."""
        async with self.session.post(self.sidecar.url + path, json=body) as response:
            answer: dict[str, Any] = await response.json()
            code = (answer.get("error") or {}).get("code")
            if response.status not in (200, 202) and code != refused:
                raise AssertionError(f"{path} answered {response.status}: {answer}")
            if refused is not None and code != refused:
                raise AssertionError(f"{path} answered {response.status}, not {refused}: {answer}")
            return answer

    async def finalize(
        self, customer: str, payment_id: str, *, refused: str | None = None, **extra: Any
    ) -> int:
        body = {"customerId": customer, "paymentId": payment_id, "totalPaid": 10, **extra}
        await self.post("/v1/finalize-payment", body, refused=refused)
        return await self.outbox_id("paymentId", payment_id)

    async def refund(
        self,
        payment_id: str,
        refund_id: str,
        customer: str | None = None,
        *,
        refused: str | None = None,
        amount: float | None = 3,
    ) -> int:
        body: dict[str, Any] = {"paymentId": payment_id, "refundId": refund_id}
        if amount is not None:
            body["amount"] = amount
        if customer:
            body["customerId"] = customer
        await self.post("/v1/refund", body, refused=refused)
        return await self.outbox_id("refundId", refund_id)

    async def outbox_id(self, field: str, value: str) -> int:
        async with self.session.get(f"{self.sidecar.url}/v1/outbox?limit=1000") as response:
            items = (await response.json())["items"]
        kind = "payment" if field == "paymentId" else "refund"
        return int(next(i["id"] for i in items if i[field] == value and i["kind"] == kind))

    async def hold(self, customer: str, checkout: str, points: int) -> str:
        body = {"customerId": customer, "checkoutId": checkout, "points": points}
        return str((await self.post("/v1/hold-and-redeem", body))["holdReference"])

    async def item(self, outbox_id: int) -> dict[str, Any]:
        async with self.session.get(f"{self.sidecar.url}/v1/outbox/{outbox_id}") as response:
            item: dict[str, Any] = await response.json()
            return item

    async def settled(self, outbox_id: int, within: float = 30) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            item = await self.item(outbox_id)
            if item["state"] in ("delivered", "dead") or loop.time() > deadline:
                return item
            await asyncio.sleep(0.1)

    async def check(self, fault: str, outbox_id: int, expected: str, *, tries: int = 1) -> None:
        """``tries``: the fault must really have been met, so at least this many sends."""
        item = await self.settled(outbox_id)
        final = item["state"] + (f"/{item['outcome']}" if item["outcome"] else "")
        if item["state"] == "dead":
            final += f" ({item['lastCode']})"
        if tries > 1:
            final += f", {item['attempts']} sends"
            expected += f", {item['attempts']} sends" if item["attempts"] >= tries else ""
        self.rows.append((fault, final, expected, final == expected))


async def scenarios(m: Matrix, simulator: SimulatorServer) -> None:
    sim = simulator.sim
    await m.check("2xx", await m.finalize("mx-01", "mx-ok"), "delivered/ok")

    sim.set_fault("drop_response", paths=["/integrations/payments"], count=1)
    lost = await m.finalize("mx-02", "mx-9004")
    await m.check("9004 (answer lost, resent)", lost, "delivered/already", tries=2)

    await m.finalize("mx-03", "mx-9001-pay")
    sim.set_fault("drop_response", paths=["/refund"], count=1)
    await m.check(
        "9001 after an unknown outcome (answer lost, resent)",
        await m.refund("mx-9001-pay", "mx-9001"),
        "delivered/already",
        tries=2,
    )
    # A reset has no effect at Gameball: a 9001 then is about another call, as the ledger shows.
    await m.finalize("mx-10", "mx-9001-other")
    sim.set_fault("reset", paths=["/refund"], count=1)
    sim.then_fault("gameball_error", status=422, code=9001, paths=["/refund"], count=1)
    await m.check(
        "9001 after a reset, refund not in the ledger",
        await m.refund("mx-9001-other", "mx-9001-x"),
        "dead (9001)",
    )
    await m.finalize("mx-07", "mx-full-pay")
    await m.refund("mx-full-pay", "mx-full-1", amount=None)
    await m.check(
        "9001 on a first send (payment already fully refunded)",
        await m.refund("mx-full-pay", "mx-full-2", amount=None, refused="ALREADY_REFUNDED"),
        "dead (9001)",
    )
    sim.set_fault("gameball_error", status=422, code=9004, paths=["/integrations/payments"])
    await m.check(
        "9004 on a first send (id taken by another call)",
        await m.finalize("mx-08", "mx-taken", refused="TRANSACTION_ID_TAKEN"),
        "dead (9004)",
    )
    sim.clear_faults()
    early = await m.refund("mx-later-pay", "mx-early", customer="mx-09")
    await m.finalize("mx-09", "mx-later-pay")
    await m.check("refund stored before its payment", early, "delivered/ok")

    sim.set_fault("ratelimit", paths=["/integrations/payments"], count=1)
    outbox_id = await m.finalize("mx-04", "mx-429")
    paused = (await m.sidecar.status(m.session))["outbox"]["rateLimitedForSeconds"] > 0
    await m.check(
        "429 (all sending paused)" if paused else "429 (NO pause seen)", outbox_id, "delivered/ok"
    )

    transient = [
        ("5xx JSON (twice)", "error5xx", {"count": 2}),
        ("2001 customer busy", "gameball_error", {"status": 422, "code": 2001, "count": 1}),
        ("timeout (black hole)", "blackhole", {"count": 1}),
        ("connection reset", "reset", {"count": 1}),
        ("HTML 503 page", "html503", {"count": 1}),
    ]
    for n, (fault, mode, options) in enumerate(transient):
        sim.set_fault(mode, paths=["/integrations/payments"], **options)
        tries = 1 + int(options.get("count", 1))
        await m.check(fault, await m.finalize(f"mx-1{n}", f"mx-t{n}"), "delivered/ok", tries=tries)

    for code, status in ((1000, 401), (1001, 401), (1002, 403)):
        sim.set_fault("gameball_error", status=status, code=code, paths=["/integrations/payments"])
        outbox_id = await m.finalize(f"mx-a{code}", f"mx-auth-{code}")
        await asyncio.sleep(1.0)
        report = await m.sidecar.status(m.session)
        held = report["alarm"]["raised"] and (await m.item(outbox_id))["state"] == "pending"
        sim.clear_faults()
        label = f"{code} (alarm, queue held, sent once fixed)"
        await m.check(label if held else f"{code} (NOT held)", outbox_id, "delivered/ok")

    sim.set_fault(
        "gameball_error", status=422, code=3003, paths=["/integrations/payments"], count=1
    )
    await m.check(
        "3003 payload refused",
        await m.finalize("mx-05", "mx-3003", refused="UPSTREAM_REJECTED"),
        "dead (3003)",
    )

    await m.check(
        "9005 refund of unknown payment",
        await m.refund("elsewhere-pay", "mx-9005", customer="mx-06"),
        "dead (9005)",
    )

    for name, points, spend, expected in (
        ("expired hold, re-held", 50, False, "delivered/reheld"),
        ("expired hold, re-hold refused", 400, True, "delivered/redemption_failed"),
    ):
        customer = f"mx-h{points}"
        sim.seed_customer(customer, points=450)
        reference = await m.hold(customer, f"co-{customer}", points)
        await simulator.set_down(True)
        outbox_id = await m.finalize(
            customer, f"pay-{customer}", redemption={"pointsHoldReference": reference}
        )
        sim.advance_clock(700)  # past the 10-minute hold lifetime
        if spend:
            sim.seed_customer(customer, points=10)  # the freed points were spent elsewhere
        await simulator.set_down(False)
        await m.check(name, outbox_id, expected)


async def run() -> bool:
    simulator = SimulatorServer(Simulator(seed_demo=False, rate_limits_enabled=False))
    await simulator.start()
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = sidecar_in(
            tmp,
            simulator,
            SIDECAR_UPSTREAM_TIMEOUT="1",
            SIDECAR_BUDGETS_FINALIZE="0.5",
            SIDECAR_OUTBOX_RETRY_BASE="0.2",
            SIDECAR_OUTBOX_RETRY_CAP="1",
            SIDECAR_OUTBOX_ALARM_RETRY="0.5",
            SIDECAR_OUTBOX_REFUND_WAIT_ATTEMPTS="2",
            SIDECAR_PACING_PAUSE_ON_429="1",
        )
        sidecar.start()
        async with aiohttp.ClientSession() as session:
            await sidecar.wait_ready(session)
            matrix = Matrix(session, sidecar)
            try:
                await scenarios(matrix, simulator)
            finally:
                sidecar.stop()
    await simulator.stop()
    width = max(len(r[0]) for r in matrix.rows)
    print(f"| {'fault'.ljust(width)} | final state | expected | match |")
    print(f"|{'-' * (width + 2)}|---|---|---|")
    for fault, final, expected, ok in matrix.rows:
        print(f"| {fault.ljust(width)} | {final} | {expected} | {'yes' if ok else 'NO'} |")
    matched = sum(r[3] for r in matrix.rows)
    outside_spec = spec_violations("matrix", simulator)
    print(
        f"matrix: cases={len(matrix.rows)} matching={matched} spec_violations={outside_spec}",
        flush=True,
    )
    return matched == len(matrix.rows) and len(matrix.rows) >= 19 and outside_spec == 0


def main(quick: bool) -> bool:
    return asyncio.run(run())

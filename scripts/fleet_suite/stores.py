"""The fleet's stores: one real sidecar process each (its own data directory, branch and
terminal, all on one merchant account), the backlog each queued while Gameball was down, and a
few tills selling live while the backlog drains, each sale timed as the cashier waits for it."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.processes import SidecarProcess

CUSTOMERS_PER_STORE = 10  # the backlog's customers; outbox.concurrency lanes drain them
LIVE_CUSTOMERS = 20  # per live till, none of them in the backlog (no lane to wait behind)
SALE_GAP_S = (1.5, 3.5)  # a cashier's rhythm: one sale every few seconds


class Store:
    def __init__(self, index: int, root: Path, base_url: str, env: dict[str, str]) -> None:
        self.name = f"s{index:02d}"
        directory = root / self.name
        directory.mkdir(parents=True)
        self.sidecar = SidecarProcess(
            base_url=base_url,
            data_dir=directory / "data",
            log_path=directory / "sidecar.log",
            SIDECAR_BRANCH_ID=f"branch-{self.name}",
            SIDECAR_TERMINAL_ID=f"{self.name}-till-1",
            SIDECAR_SIDECAR_LOG_LEVEL="WARNING",
            **env,
        )
        self.backlog: list[str] = []  # paymentIds, in the order queued
        self.last_backlog_id = 0  # the outbox id of the last of them
        self.refused: list[str] = []

    def payment_id(self, n: int) -> str:
        return f"{self.name}-b{n:04d}"

    async def queue_backlog(self, session: aiohttp.ClientSession, count: int) -> None:
        """``count`` sales while Gameball is down, four at a time like a few busy tills; each
        must be queued (202): one delivered (200) means Gameball was not down."""
        numbers = iter(range(count))

        async def lane() -> None:
            for n in numbers:
                body = {
                    "customerId": f"{self.name}-c{n % CUSTOMERS_PER_STORE:02d}",
                    "paymentId": self.payment_id(n),
                    "totalPaid": 10 + n % 30,
                }
                url = f"{self.sidecar.url}/v1/finalize-payment"
                async with session.post(url, json=body) as response:
                    answer = await response.json()
                if response.status != 202:
                    self.refused.append(f"{body['paymentId']}: {response.status} {answer}")
                    continue
                self.last_backlog_id = max(self.last_backlog_id, int(answer["outboxId"]))

        await asyncio.gather(*(lane() for _ in range(4)))
        self.backlog = [self.payment_id(n) for n in range(count)]

    async def backlog_open(self, session: aiohttp.ClientSession) -> bool:
        """Whether any backlog row is still pending or in flight (live rows come later)."""
        url = f"{self.sidecar.url}/v1/outbox?state=pending,inflight&limit=1"
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                items = (await response.json())["items"]
        except (aiohttp.ClientError, TimeoutError):
            return True
        return bool(items) and int(items[0]["id"]) <= self.last_backlog_id

    async def queued(self, session: aiohttp.ClientSession) -> int:
        return int((await self.sidecar.status(session))["outbox"]["queued"])

    async def queued_payment_ids(self, session: aiohttp.ClientSession) -> set[str]:
        """The paymentIds of the sales still in this store's outbox (pending or in flight)."""
        found: set[str] = set()
        after = 0
        while True:
            url = f"{self.sidecar.url}/v1/outbox?state=pending,inflight&limit=1000&afterId={after}"
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as response:
                items = (await response.json())["items"]
            if not items:
                return found
            found.update(str(item["request"].get("paymentId")) for item in items)
            after = max(int(item["id"]) for item in items)


async def start_all(session: aiohttp.ClientSession, stores: list[Store]) -> None:
    for store in stores:
        store.sidecar.start()
    await asyncio.gather(*(store.sidecar.wait_ready(session, within=120) for store in stores))


def stop_all(stores: list[Store]) -> list[int]:
    """SIGTERM to every sidecar at once, then their exit statuses."""
    processes = [s.sidecar.process for s in stores if s.sidecar.process is not None]
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.wait(timeout=60) for process in processes]


@dataclass
class Sale:
    started: float  # wall clock, as the simulator's journal times are
    seconds: float
    status: int  # 0: no answer at all


@dataclass
class LiveTill:
    store: Store
    number: int
    rng: random.Random
    sales: list[Sale] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            payment_id = f"{self.store.name}-l{self.number}-{n:04d}"
            customer = f"{self.store.name}-live-{self.rng.randrange(LIVE_CUSTOMERS):02d}"
            body = {"customerId": customer, "paymentId": payment_id, "totalPaid": 25}
            started, began = time.time(), time.monotonic()
            status = 0
            try:
                async with session.post(
                    f"{self.store.sidecar.url}/v1/finalize-payment",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=15),
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.sales.append(Sale(started, time.monotonic() - began, status))
            if status in (200, 202):
                self.acknowledged.append(payment_id)
            n += 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.rng.uniform(*SALE_GAP_S))
            except TimeoutError:
                pass

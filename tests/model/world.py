"""The world one example runs in: an event loop in a background thread carrying the Gameball
simulator, the real sidecar app (real sockets, a real SQLite file) and a POS client session.
Hypothesis steps are synchronous; each one is handed to the loop and waited for."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from sidecar.app import create_app
from sidecar.config import load_config
from sidecar.credentials import Secrets
from sidecar.simulator import Simulator, SimulatorServer
from sidecar.simulator.errors import GameballError
from tests.support.processes import STORE_ENV

from .answers import Answer
from .settings import (
    COUPONS,
    CUSTOMERS,
    DRAIN_WITHIN,
    POS_TIMEOUT,
    SEED_POINTS,
    SIDECAR_ENV,
)

T = TypeVar("T")


class World:
    """Owns the loop thread; every public method is synchronous."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        """``env``: settings on top of the model's own (a machine variant's)."""
        self.env = env or {}
        self.root = Path(tempfile.mkdtemp(prefix="gameball-model-"))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="model-loop", daemon=True)
        self._thread.start()
        self.sim = Simulator(seed_demo=False, rate_limits_enabled=False)
        self.server = SimulatorServer(self.sim)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""
        self.starts = 0
        self.run(self._open())

    # --- plumbing ---------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the loop thread (the simulator is not thread-safe)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    async def _open(self) -> None:
        for customer in CUSTOMERS:
            self.sim.seed_customer(customer, points=SEED_POINTS)
        for coupon in COUPONS:
            self.sim.add_coupon(coupon)
        await self.server.start(host="127.0.0.1", port=0, control_port=0)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POS_TIMEOUT))
        await self._start_sidecar()

    async def _start_sidecar(self) -> None:
        env = {
            **STORE_ENV,
            **SIDECAR_ENV,
            "GAMEBALL_BASE_URL": self.server.base_url,
            "SIDECAR_DATA_DIR": str(self.root / "data"),
            **self.env,
        }
        app = create_app(load_config(None, env), Secrets("model-api-key", "model-secret-key"))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self.starts += 1

    async def _stop_sidecar(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def close(self) -> None:
        try:
            self.run(self._close(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()
            shutil.rmtree(self.root, ignore_errors=True)

    async def _close(self) -> None:
        try:
            await self._stop_sidecar()
        finally:
            if self._session is not None:
                await self._session.close()
            await self.server.stop()

    # --- the POS ----------------------------------------------------------------------------

    def pos(self, method: str, path: str, body: Any = None) -> Answer:
        return self.run(self._pos(method, path, body), timeout=POS_TIMEOUT + 5)

    def pos_together(self, calls: list[tuple[str, str, Any]]) -> list[Answer]:
        """Several requests at once, as a double-clicked till or two tills would send them."""

        async def together() -> list[Answer]:
            return list(await asyncio.gather(*(self._pos(*call) for call in calls)))

        return self.run(together(), timeout=POS_TIMEOUT + 5)

    async def _pos(self, method: str, path: str, body: Any) -> Answer:
        assert self._session is not None
        start = len(self.sim.requests)
        began = self.loop.time()
        status: int | None = None
        parsed: Any
        try:
            async with self._session.request(method, self.url + path, json=body) as response:
                status = response.status
                if response.content_type == "application/json":
                    parsed = await response.json()
                else:
                    parsed = await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            status, parsed = None, f"{type(exc).__name__}: {exc}"
        return Answer(
            method=method,
            path=path,
            request=body,
            status=status,
            body=parsed,
            elapsed=self.loop.time() - began,
            window=(start, len(self.sim.requests)),
        )

    def get_json(self, path: str) -> Any:
        answer = self.pos("GET", path)
        if answer.status != 200:
            raise AssertionError(f"GET {path} answered {answer.short()}")
        return answer.body

    def outbox(self, customer: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after = 0
        while True:
            query = f"/v1/outbox?limit=1000&afterId={after}"
            if customer is not None:
                query += f"&customerId={customer}"
            page = self.get_json(query)["items"]
            if not page:
                return rows
            rows.extend(page)
            after = page[-1]["id"]

    def outbox_row(self, item_id: Any) -> dict[str, Any] | None:
        """One row as the listing shows it (None for no such id)."""
        if not isinstance(item_id, int):
            return None
        rows = self.get_json(f"/v1/outbox?limit=1&afterId={item_id - 1}")["items"]
        return rows[0] if rows and rows[0]["id"] == item_id else None

    def locks(self) -> dict[str, dict[str, Any]]:
        """Every coupon lock Gameball made, by reference: its customer and its state (active,
        used, released or expired)."""
        locks = self.call(lambda: self.sim.state.coupons.snapshot()["locks"])
        return {lock["lockReference"]: lock for lock in locks}

    def status(self) -> dict[str, Any]:
        return self.get_json("/v1/status")  # type: ignore[no-any-return]

    # --- Gameball's side --------------------------------------------------------------------

    def journal(self) -> list[dict[str, Any]]:
        return self.call(lambda: self.sim.requests)

    def ledger(self) -> list[dict[str, Any]]:
        return self.call(lambda: self.sim.ledger())

    def hold_state(self, reference: str) -> str:
        """active, used, expired, or gone (released or never made)."""

        def look() -> str:
            try:
                return str(self.sim.state.get_hold(reference)["state"])
            except GameballError:
                return "gone"

        return self.call(look)

    def spend_elsewhere(self, customer: str, points: int) -> str | None:
        """The customer redeems points at another store, straight at Gameball: its id."""

        def spend() -> str | None:
            try:
                return str(self.sim.spend_elsewhere(customer, points)["transactionId"])
            except GameballError:
                return None

        return self.call(spend)

    def hold_elsewhere(self, customer: str, points: int) -> str | None:
        """A hold made for the customer at another till, straight at Gameball."""

        def place() -> str | None:
            try:
                return self.sim.state.accounts.place_hold(customer, points).reference
            except GameballError:
                return None

        return self.call(place)

    def set_fault(self, mode: str, **options: Any) -> None:
        self.call(lambda: self.sim.set_fault(mode, **options))

    def set_down(self, down: bool) -> None:
        self.run(self.server.set_down(down))

    def heal(self) -> None:
        async def heal() -> None:
            self.sim.clear_faults()
            await self.server.set_down(False)

        self.run(heal())

    def advance_clock(self, seconds: float) -> None:
        self.call(lambda: self.sim.advance_clock(seconds))

    def spec_violations(self) -> list[Any]:
        return list(self.call(lambda: getattr(self.sim, "spec_violations", None) or []))

    def restart(self) -> None:
        """A clean stop (in-flight calls get their grace) and a new process on the same disk."""

        async def restart() -> None:
            await self._stop_sidecar()
            await self._start_sidecar()

        self.run(restart())

    def drain(self, within: float = DRAIN_WITHIN) -> tuple[bool, dict[str, Any]]:
        """Wait (bounded) until nothing is queued or in flight, twice in a row and with no new
        request reaching Gameball in between, so background work has really finished."""
        return self.run(self._drain(within), timeout=within + 15)

    async def _drain(self, within: float) -> tuple[bool, dict[str, Any]]:
        deadline = self.loop.time() + within
        quiet = 0
        seen = -1
        snapshot: dict[str, Any] = {}
        while self.loop.time() < deadline:
            answer = await self._pos("GET", "/v1/status", None)
            snapshot = answer.body if isinstance(answer.body, dict) else {}
            outbox = snapshot.get("outbox") or {}
            idle = answer.status == 200 and outbox.get("queued") == 0 and not outbox.get("inFlight")
            arrived = len(self.sim.requests)
            quiet = quiet + 1 if idle and arrived == seen else 0
            seen = arrived
            if quiet >= 2:
                return True, snapshot
            await asyncio.sleep(0.15)
        return False, snapshot

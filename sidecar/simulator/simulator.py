"""The Simulator: ledger, clock, credentials, faults, rate limit and journal in one object."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from . import coupons
from .bodies import Redeem
from .contract import Contract, SpecViolation, Violation, gameball_contract
from .errors import GameballError
from .faults import Fault, FaultBoard
from .journal import Journal, redact_body
from .ratelimit import SlidingWindowLimiter
from .rules import Programme
from .simtime import utc_iso
from .state import Ledger

# Seeded when seed_demo=True, so a demo can hold and redeem points at once:
#   cust-1001  500 points, Bronze (1 point per 1 money)
#   cust-2002  2,000 points, Gold (2 points per 1 money; set by seeding, 2,000 alone is Silver)
#   cust-3003  1,200 points, Silver (1.5 points per 1 money, reached by lifetime points)
# and the coupons in coupons.DEMO_COUPONS (SAVE10, PCT15, EXPIRED5, MIN50, USED20, FREESHIP).
DEMO_CUSTOMERS: tuple[tuple[str, int, str], ...] = (
    ("cust-1001", 500, "Bronze"),
    ("cust-2002", 2_000, "Gold"),
    ("cust-3003", 1_200, "Silver"),
)


class Simulator:
    """Everything the fake Gameball knows; the HTTP layer in app.py only reads and calls it."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        hold_ttl_seconds: float = 600.0,
        programme: Programme | None = None,
        api_key: str | None = None,
        secret_key: str | None = None,
        seed_demo: bool = True,
        rate_limit_per_second: int = 30,
        rate_limit_per_30s: int = 360,
        rate_limits_enabled: bool = True,
        latency_seconds: float = 0.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._offset = 0.0
        self._api_key = api_key
        self._secret_key = secret_key
        self.seed_demo = seed_demo
        # The merchant's settings (lifetimes, sign-up and referral rewards); `hold_ttl_seconds`
        # is kept as its own argument for callers that set only that.
        self.programme = programme or Programme(hold_ttl_seconds=hold_ttl_seconds)
        self.hold_ttl_seconds = self.programme.hold_ttl_seconds
        # Slept inside each call, while the customer is marked busy, so overlaps really happen.
        self.latency_seconds = latency_seconds
        self.faults = FaultBoard()
        self.journal = Journal()
        self.contract: Contract = gameball_contract()
        self._violations: list[SpecViolation] = []
        self.limiter = SlidingWindowLimiter(
            per_second=rate_limit_per_second,
            per_30s=rate_limit_per_30s,
            timer=timer,
            enabled=rate_limits_enabled,
        )
        self._busy: set[str] = set()
        self._spent_elsewhere = 0
        self._wake = asyncio.Event()
        self._closing = False
        self.state = self._fresh_ledger()

    def now(self) -> float:
        return self._clock() + self._offset

    def advance_clock(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    def set_fault(
        self,
        mode: str,
        *,
        paths: list[str] | tuple[str, ...] | None = None,
        count: int | None = None,
        delay_seconds: float | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> Fault:
        return self.faults.set(
            mode, paths=paths, count=count, delay_seconds=delay_seconds, status=status, code=code
        )

    def then_fault(
        self,
        mode: str,
        *,
        paths: list[str] | tuple[str, ...] | None = None,
        count: int | None = None,
        delay_seconds: float | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> Fault:
        """Queue a fault to follow the current one when its count runs out."""
        return self.faults.then(
            mode, paths=paths, count=count, delay_seconds=delay_seconds, status=status, code=code
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def fault(self) -> Fault:
        return self.faults.current

    def seed_customer(self, customer_id: str, *, points: int = 0, tier: str | None = None) -> None:
        self.state.accounts.seed(customer_id, points=points, tier=tier)

    def spend_elsewhere(self, customer_id: str, points: int) -> dict[str, Any]:
        """Another store redeems the customer's points straight at Gameball (a redeem by
        points under its own id, ``elsewhere-N``), as tills this sidecar never hears of do:
        9008 past the available balance, 7000 for an unknown customer."""
        self._spent_elsewhere += 1
        for millisecond in range(100):
            try:
                return self.state.redeem(
                    Redeem(
                        customer_id=customer_id,
                        transaction_id=f"elsewhere-{self._spent_elsewhere}",
                        transaction_time=utc_iso(self.now() + millisecond / 1000),
                        points=points,
                    )
                )
            except GameballError as exc:
                if exc.code != 9003:  # that store's till picks the next free millisecond
                    raise
        raise GameballError(9003, "no free millisecond for this customer's redemption")

    def add_coupon(
        self, spec: coupons.CouponSpec, *, used_by: dict[str, int] | None = None
    ) -> None:
        """Add or replace a coupon (until the next reset)."""
        self.state.coupons.add(spec, used_by=used_by)

    def customer(self, customer_id: str) -> dict[str, Any]:
        """Everything kept about a customer: profile, attributes, referral, tier, balance."""
        return self.state.profiles.control_body(customer_id)

    def ledger(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        return self.state.records(customer_id)

    def balance(self, customer_id: str) -> dict[str, Any]:
        """The customer's balance as GET .../balance answers it; GameballError 7000 if unknown."""
        return self.state.balance(customer_id)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every API request received, oldest first (see journal.entry for the keys)."""
        return self.journal.entries

    @property
    def spec_violations(self) -> list[SpecViolation]:
        """Every way a received request broke Gameball's published spec, oldest first."""
        return list(self._violations)

    def record_violations(
        self, entry: Mapping[str, Any], violations: list[Violation]
    ) -> list[Violation]:
        """Keep what a journal entry's request got wrong, with its body redacted."""
        body = redact_body(entry["body"]) if violations else None
        self._violations.extend(
            SpecViolation(
                request_id=entry["requestId"],
                method=entry["method"],
                path=entry["path"],
                location=violation.location,
                pointer=violation.pointer,
                field=violation.field,
                code=violation.code,
                message=violation.message,
                body=body,
            )
            for violation in violations
        )
        return violations

    def reset(self) -> None:
        """Back to a fresh start: ledger (customers, coupons), journal, violations, faults, rate
        windows and clock."""
        self._offset = 0.0
        self.state = self._fresh_ledger()
        self.journal.clear()
        self._violations.clear()
        self.limiter.reset()
        self.faults.clear()

    def check_auth(self, headers: Mapping[str, str], *, needs_secret: bool) -> None:
        """Gameball's 1000/1001 checks; any non-empty key passes unless one was configured."""
        if not _matches(headers.get("APIKey"), self._api_key):
            raise GameballError(1000, "Invalid or missing APIKey.")
        if needs_secret and not _matches(headers.get("SecretKey"), self._secret_key):
            raise GameballError(1001, "Invalid or missing SecretKey; this API requires it.")

    @contextlib.asynccontextmanager
    async def customer_turn(self, customer_id: str) -> AsyncIterator[None]:
        """Mark the customer busy for one mutating call; a second call meanwhile gets 2001."""
        if customer_id in self._busy:
            raise GameballError(
                2001, f"Another request for customer '{customer_id}' is in progress."
            )
        self._busy.add(customer_id)
        try:
            await self.pause(self.latency_seconds)
            yield
        finally:
            self._busy.discard(customer_id)

    async def pause(self, seconds: float) -> None:
        """Sleep, cut short when the server stops so shutdown never waits on a slow answer."""
        if seconds <= 0 or self._closing:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def swallow(self) -> None:
        """Hold a black-holed request until the fault changes or the server stops."""
        if self._closing:
            return
        released = asyncio.ensure_future(self.faults.wait_released())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({released, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            woken.cancel()

    def open(self) -> None:
        """Called by the server on start: waits behave normally again."""
        self._closing = False
        self._wake = asyncio.Event()

    def close(self) -> None:
        """Called by the server on stop: let every held or sleeping request go at once."""
        self._closing = True
        self._wake.set()
        self.faults.release_all()

    def _fresh_ledger(self) -> Ledger:
        ledger = Ledger(clock=self.now, programme=self.programme)
        if self.seed_demo:
            for customer_id, points, tier in DEMO_CUSTOMERS:
                ledger.accounts.seed(customer_id, points=points, tier=tier)
            coupons.seed_demo(ledger.coupons)
        return ledger


def _matches(given: str | None, expected: str | None) -> bool:
    if not given:
        return False
    if expected is None:
        return True
    return hmac.compare_digest(given.encode(), expected.encode())

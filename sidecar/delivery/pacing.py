"""Keeps calls to Gameball inside its account-wide rate limits (sliding windows, e.g. 30 per
second and 360 per 30 seconds), live calls first: a cashier's call takes the next slot ahead of
any waiting replay and may use a slice of each window replay may not, so it never queues behind
the backlog. The budget is this sidecar's share of the account's, or the fleet's one budget in
Redis when there is one; after a 429 the rate backs off (static pause, or AIMD), and replay
after a reconnect starts after a random delay, so a fleet's tills do not all start at once."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

import backoff

from ..errors import GameballError, GameballRateLimited
from ..gameball.client import UpstreamClient
from .aimd import RateControl
from .shared import SharedBudget
from .windows import Windows

SharedState = Literal["off", "redis", "fallback"]
T = TypeVar("T")


class RateBudgetSpent(GameballError):
    """Not sent: the account's rate budget has no room for this call within its time budget."""


class Pacer:
    def __init__(
        self,
        *,
        windows: Sequence[tuple[int, float]],
        enabled: bool = True,
        pause_seconds: float = 30.0,
        restart_rate: float = 1.0,
        aimd: bool = False,
        local_share: float = 1.0,
        live_reserve: float = 0.0,
        reconnect_jitter: float = 0.0,
        shared: SharedBudget | None = None,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float], float] = backoff.full_jitter,
    ) -> None:
        """``local_share`` (0, 1]: the part of the account's budget used without a shared one;
        ``live_reserve``: the part of each window only live calls may fill; ``shared``: the
        fleet's budget in Redis; ``reconnect_jitter``: the longest delay before replay starts
        after Gameball is back (``jitter`` draws it)."""
        self._windows = Windows(windows, reserve=live_reserve)
        self._enabled = enabled
        self._local_share = local_share
        self._shared = shared
        self._share = self._target_share()
        self._rate = RateControl(
            ceiling=self._windows.rate(self._share),
            aimd=aimd,
            pause_seconds=pause_seconds,
            restart_rate=restart_rate,
            # Not fed while pacing is off: it would show a rate nothing keeps to.
            long_span=max((span for _, span in windows), default=0.0) if enabled else 0.0,
            long_keep=1.0 - live_reserve,
            timer=timer,
        )
        self._timer = timer
        self._sleep = sleep
        self._jitter = jitter
        self._reconnect_jitter = reconnect_jitter
        self._last_replay = -math.inf  # replay is spaced from its own last call
        self._replay_from = -math.inf
        # Live calls waiting for a slot; replay takes none while there is one.
        self._live_waiting = 0
        self._no_live = asyncio.Event()
        self._no_live.set()

    @property
    def paused(self) -> bool:
        return self._timer() < self._rate.paused_until

    def pause_remaining(self) -> float:
        return max(0.0, self._rate.paused_until - self._timer())

    def replay_held_for(self) -> float:
        """Seconds replay still waits after a reconnect (the jittered start)."""
        return max(0.0, self._replay_from - self._timer())

    @property
    def shared_budget(self) -> SharedState:
        return "off" if self._shared is None else self._shared.state

    @property
    def aimd(self) -> bool:
        return self._rate.aimd

    def rate(self) -> tuple[float, float]:
        """(calls per second allowed now, the ceiling: this sidecar's share of the budget).
        With pacing off nothing spaces the calls: the ceiling, whatever AIMD would allow."""
        self._current_share()
        ceiling = self._rate.ceiling
        return (self._rate.rate() if self._enabled else ceiling), ceiling

    def rate_limited(self, retry_after: float | None = None, *, live: bool = False) -> None:
        """Gameball answered 429: the whole account is over budget, so every sender waits
        (at least ``retry_after`` seconds, when Gameball said so) and the rate backs off.
        ``live``: the call that met it was a cashier's."""
        clocked = self.shared_budget != "redis"
        self._rate.rate_limited(retry_after, clocked=clocked, live=live)

    def reconnected(self) -> None:
        """Gameball is reachable again: replay waits a random part of the jitter first (live
        calls do not), so the first store to find Gameball back does not take the whole first
        window alone; then, with AIMD, it starts slowly. Not on a healthy shared budget: it
        spaces the fleet and shares each window among the tills waiting for it already, and
        a fleet's earliest jittered start (5 stores: 0.8 s on average, often 2 s) was budget
        left unused."""
        if self._reconnect_jitter > 0 and self.shared_budget != "redis":
            self._replay_from = self._timer() + self._jitter(self._reconnect_jitter)
            self._rate.reconnected(self._replay_from)  # AIMD: and starts slowly
        else:
            self._rate.reconnected(None)

    async def acquire(self, *, live: bool = False, within: float | None = None) -> None:
        """Wait until one more call fits, then count it. ``live``: a cashier is waiting; it
        goes before replay, and ``within`` seconds (its budget) is the longest it will wait:
        ``RateBudgetSpent`` at once when no slot can come in time."""
        deadline = None if within is None else self._timer() + within
        if live:
            self._live_waiting += 1
            self._no_live.clear()
        try:
            while True:
                if not live and self._live_waiting:
                    await self._no_live.wait()
                    continue
                now = self._timer()
                wait = self._wait_needed(now, live)
                if wait <= 0:
                    taken = await self._take(now, live)
                    if taken is None:
                        continue  # Redis just failed: look again, on the local share
                    if taken <= 0:
                        return
                    wait = taken
                if deadline is not None and now + wait > deadline:
                    raise RateBudgetSpent(
                        "Gameball's rate limit for this account leaves no room for this call "
                        "within its time budget",
                        outcome_unknown=False,
                    )
                await self._sleep(wait)
        finally:
            if live:
                self._live_waiting -= 1
                if not self._live_waiting:
                    self._no_live.set()

    def _wait_needed(self, now: float, live: bool) -> float:
        wait = self._rate.paused_until - now
        if not live:
            wait = max(wait, self._replay_from - now)
        if not self._enabled:
            return wait
        wait = max(wait, self._windows.wait(now, live=live, share=self._current_share()))
        if not live:
            # Live calls are not spaced by the rate, nor do they space replay: a cashier waits
            # for no one's backoff but the account's windows, and a store whose cashier sells
            # drains its backlog as fast as the others (live calls take the live reserve).
            wait = max(wait, self._rate.spacing_wait(now, self._last_replay))
        return wait

    async def _take(self, now: float, live: bool) -> float | None:
        """Count the call here (and in the shared budget): 0 when it may go, else seconds to
        wait, or None to look again because the share just changed."""
        taken = self._windows.take(now)
        if self._enabled and self._shared is not None and self._shared.state == "redis":
            wait = await self._shared.take(live=live, limits=self._windows.shared_limits())
            self._windows.give_back(taken)
            if wait is None or wait > 0:
                return wait
            # Counted from when the call goes, not from before Redis was asked.
            self._windows.take(self._timer())
        sent_at = self._timer()
        if not live:
            self._last_replay = sent_at
        self._rate.sent(sent_at, live=live)
        return 0.0

    def _target_share(self) -> float:
        """All of the account's budget while the fleet's shared one decides; else this
        sidecar's local share of it."""
        healthy = self._shared is not None and self._shared.state == "redis"
        return 1.0 if healthy else self._local_share

    def _current_share(self) -> float:
        if self.shared_budget == "redis":
            # Also when the share does not change (local_share 1): a count kept while Redis
            # was away must not space replay the shared budget now spaces.
            self._rate.release_long()
        share = self._target_share()
        if share != self._share:
            self._share = share
            self._rate.set_ceiling(self._windows.rate(share))
        return share

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()


async def paced_call(
    pacer: Pacer,
    upstream: UpstreamClient,
    method: str,
    path: str,
    result_type: type[T],
    *,
    live: bool,
    within: float | None = None,
    report_429: bool = True,
) -> T:
    """A call on the account's budget that is no outbox row's own send (a hold's look-up or
    release): counted in the windows like any, its 429 told to the pacer. Unpaced, each hold
    spent two calls of the budget and the pacer counted one. ``RateBudgetSpent`` (a
    ``GameballError``, nothing sent) when no slot comes within ``within`` seconds.
    ``report_429``: False when the caller's caller tells the pacer (it must hear it once)."""
    await pacer.acquire(live=live, within=within)
    try:
        return await upstream.call(method, path, result_type)
    except GameballRateLimited as exc:
        if report_429:
            pacer.rate_limited(exc.retry_after, live=live)
        raise

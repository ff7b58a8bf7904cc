"""The budget a fleet of sidecars on one Gameball account shares, held in Redis: each call is
taken from the same sliding windows by one Lua script, one round trip, on Redis's own clock.
Redis is never on a sale's critical path: each call to it has a short timeout, and one that is
slow, refused or wrong sends this sidecar back to its local share at once while a background
probe waits for Redis to answer again."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

log = logging.getLogger(__name__)

State = Literal["redis", "fallback"]
# Good answers in a row before the shared budget is trusted again (a Redis that answers now
# and then, around the timeout, must not flip every till back and forth).
RECOVER_AFTER = 3

# KEYS: the account's window per span, then this sidecar's own per span, then the set of
# sidecars refused lately. ARGV: live ("1"/"0"), a member unique to this call, this sidecar's
# name, then per window: live limit, replay limit, span in ms. Returns 0 (taken, counted in
# every window) or the ms until a slot frees (nothing counted). Redis's clock, not the tills':
# they need not agree. Entries in the future (Redis's clock stepped back) are dropped, or they
# would hold the budget shut for as long as the step. Replay is also fair: while other
# sidecars were refused in the last 2 s, each may fill only its part of each window (the
# replay limit over the sidecars contending, rounded up), so the first to reconnect does not
# drain first while the others wait; live calls are never held back for fairness.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = ARGV[1] == '1'
local column = live and 1 or 2
local n = (#KEYS - 1) / 2
local waiting = KEYS[#KEYS]
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now - 2000)
local contending = redis.call('ZCARD', waiting)
if not redis.call('ZSCORE', waiting, ARGV[3]) then contending = contending + 1 end
local wait = 0
for i = 1, n do
  local base = 3 + (i - 1) * 3
  local limit = tonumber(ARGV[base + column])
  local span = tonumber(ARGV[base + 3])
  for _, key in ipairs({KEYS[i], KEYS[n + i]}) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
    redis.call('ZREMRANGEBYSCORE', key, '(' .. now, '+inf')
  end
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local edge = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(edge[2]) + span - now)
  end
  if not live and contending > 1 then
    local fair = math.ceil(limit / contending)
    local own = redis.call('ZCARD', KEYS[n + i])
    if own >= fair then
      -- Looked at again within a second: the others may be done by then.
      local edge = redis.call('ZRANGE', KEYS[n + i], own - fair, own - fair, 'WITHSCORES')
      wait = math.max(wait, math.min(1000, tonumber(edge[2]) + span - now))
    end
  end
end
if wait > 0 then
  if not live then
    redis.call('ZADD', waiting, now, ARGV[3])
    redis.call('PEXPIRE', waiting, 5000)
  end
  return wait
end
for i = 1, n do
  local span = tonumber(ARGV[3 + i * 3])
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], span)
  redis.call('ZADD', KEYS[n + i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[n + i], span)
end
return 0
"""


def account_of(api_key: str) -> str:
    """The account's name in Redis: a digest of its API key, never the key."""
    return hashlib.sha256(b"gameball-sidecar pacing\0" + api_key.encode()).hexdigest()[:24]


class SharedBudget:
    def __init__(
        self,
        *,
        url: str,
        account: str,
        timeout: float,
        retry_every: float = 1.0,
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        # Imported here: a sidecar without a shared budget never loads the Redis client (RSS).
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        self._failures: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # no retries inside the timeout: fall back instead
            health_check_interval=0,
        )
        self._script = self._redis.register_script(TAKE)
        self._account = account
        self._timeout = timeout
        self._retry_every = retry_every
        self._sleep = sleep
        self._name = secrets.token_hex(6)  # this process, in the members it adds
        self._calls = itertools.count()
        self._recovering: asyncio.Task[None] | None = None
        self.state: State = "redis"
        self.fallbacks = 0
        self.last_problem: str | None = None

    async def take(self, *, live: bool, limits: Sequence[tuple[int, int, float]]) -> float | None:
        """One call from the shared windows ((live limit, replay limit, span) each): 0 when it
        may go, else the seconds until a slot frees; None when Redis does not answer in time
        (the caller paces on its local share until the probe finds Redis again)."""
        if self.state != "redis":
            return None
        prefix = f"gameball-sidecar:pacing:{{{self._account}}}"
        spans = [f"{prefix}:{span:g}s" for *_, span in limits]
        keys = [*spans, *(f"{key}:{self._name}" for key in spans), f"{prefix}:waiting"]
        args: list[str | int] = ["1" if live else "0", f"{self._name}:{next(self._calls)}"]
        args.append(self._name)
        for live_limit, replay_limit, span in limits:
            args += [live_limit, replay_limit, max(1, round(span * 1000))]
        try:
            async with asyncio.timeout(self._timeout):
                wait_ms = await self._script(keys=keys, args=args)
        except self._failures as exc:
            self._fall_back(exc)
            return None
        return max(0, int(wait_ms)) / 1000

    def _fall_back(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.state = "fallback"
        self.fallbacks += 1
        self.last_problem = reason
        log.warning("the shared pacing budget in Redis did not answer (%s); local share", reason)
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        good = 0
        while good < RECOVER_AFTER:
            await self._sleep(self._retry_every)
            try:
                async with asyncio.timeout(self._timeout):
                    await self._redis.ping()
            except self._failures:
                good = 0
                continue
            good += 1
        self.state = "redis"
        log.info("the shared pacing budget in Redis answers again; pacing on it")

    async def close(self) -> None:
        if self._recovering is not None:
            self._recovering.cancel()
            await asyncio.gather(self._recovering, return_exceptions=True)
        try:
            await self._redis.aclose()
        except self._failures as exc:  # a slow Redis must not turn a clean stop into a failure
            log.info("closing the connection to Redis: %s", type(exc).__name__)

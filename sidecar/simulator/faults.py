"""Switchable outage faults: which one is on, for which paths, and for how many more requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal, get_args

import msgspec

Mode = Literal[
    "none",
    "down",  # API listener closed: connection refused
    "blackhole",  # request read, never answered until the fault changes or the server stops
    "slow",  # answer normally after delay_seconds
    "error5xx",  # Gameball error body, 500/5000 (or 503/5003 with status=503)
    "html503",  # an edge proxy's HTML 503 page
    "ratelimit",  # 429
    "reset",  # connection aborted before any processing
    "gameball_error",  # `status` with a Gameball error body carrying `code`
    "legacy_error",  # the older {"error", "message"} body
    "drop_response",  # processed (the effect lands) but the connection aborts before the answer
]
MODES: frozenset[str] = frozenset(get_args(Mode))

DEFAULT_DELAY_SECONDS = 1.0


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    mode: Mode = "none"
    # Substrings of the request path the fault applies to; None means every API path.
    paths: tuple[str, ...] | None = None
    # Matching requests still to be affected; None means until cleared.
    remaining: int | None = None
    delay_seconds: float = DEFAULT_DELAY_SECONDS
    status: int | None = None
    code: int | None = None

    def matches(self, path: str) -> bool:
        return self.mode != "none" and (
            self.paths is None or any(part in path for part in self.paths)
        )

    def describe(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "paths": list(self.paths) if self.paths is not None else None,
            "count": self.remaining,
            "delaySeconds": self.delay_seconds,
            "status": self.status,
            "code": self.code,
        }


class FaultBoard:
    """The current fault; waiters held by a black hole are let go whenever it changes."""

    def __init__(self) -> None:
        self.current = Fault()
        self._released = asyncio.Event()
        self._listeners: list[Callable[[Fault], None]] = []
        # Faults that follow the current one once its count runs out, in order.
        self._next: list[Fault] = []

    def subscribe(self, listener: Callable[[Fault], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Fault], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def set(
        self,
        mode: str,
        *,
        paths: list[str] | tuple[str, ...] | None = None,
        count: int | None = None,
        delay_seconds: float | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> Fault:
        fault = _fault(mode, paths, count, delay_seconds, status, code)
        self._next.clear()
        self._change(fault)
        return fault

    def then(
        self,
        mode: str,
        *,
        paths: list[str] | tuple[str, ...] | None = None,
        count: int | None = None,
        delay_seconds: float | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> Fault:
        """A fault that takes over once the current one (and those queued before) ran out:
        e.g. a reset, then a 9001 for the retry."""
        fault = _fault(mode, paths, count, delay_seconds, status, code)
        if self.current.mode == "none":
            self._change(fault)
        else:
            self._next.append(fault)
        return fault

    def clear(self) -> None:
        self._next.clear()
        self._change(Fault())

    def take(self, path: str) -> Fault | None:
        """The fault for this request, counting it against `count`; None when none applies."""
        fault = self.current
        if not fault.matches(path):
            return None
        if fault.remaining is not None:
            left = fault.remaining - 1
            if left > 0:
                self.current = msgspec.structs.replace(fault, remaining=left)
            else:
                self._change(self._next.pop(0) if self._next else Fault())
        return fault

    async def wait_released(self) -> None:
        """Return once the fault changes (or `release_all` runs, e.g. at server stop)."""
        await self._released.wait()

    def release_all(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    def _change(self, fault: Fault) -> None:
        self.current = fault
        self.release_all()
        for listener in list(self._listeners):
            listener(fault)


def _fault(
    mode: str,
    paths: list[str] | tuple[str, ...] | None,
    count: int | None,
    delay_seconds: float | None,
    status: int | None,
    code: int | None,
) -> Fault:
    if mode not in MODES:
        raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(sorted(MODES))}")
    if count is not None and count < 1:
        raise ValueError("count must be at least 1")
    return Fault(
        mode=mode,  # type: ignore[arg-type]  # checked against MODES above
        paths=tuple(paths) if paths is not None else None,
        remaining=count,
        delay_seconds=DEFAULT_DELAY_SECONDS if delay_seconds is None else delay_seconds,
        status=status,
        code=code,
    )

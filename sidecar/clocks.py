"""Injected time, so tests move it instead of sleeping: ``clock`` is wall time (stamps,
expiry), ``timer`` is monotonic (budgets, backoff), ``sleep`` waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Clocks:
    clock: Callable[[], float] = time.time
    timer: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep


REAL = Clocks()

"""The sidecar's resident memory during the badinput suite, sampled on a thread of its own."""

from __future__ import annotations

import asyncio
import statistics
import threading

import psutil

MB = 1 << 20
MAX_GROWTH_MB = 64.0


class RssSampler:
    """Samples the sidecar's resident memory on a thread, so a busy event loop cannot hide it."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak = 0
        self.last = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = self._process.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, self.last)
            self._stop.wait(self._interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    async def settled(self, seconds: float = 1.0) -> int:
        """Median RSS over a quiet interval."""
        samples = []
        for _ in range(10):
            await asyncio.sleep(seconds / 10)
            samples.append(self.last)
        return int(statistics.median(samples))

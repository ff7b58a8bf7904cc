"""The processes scripts/bench.py measures: the sidecar (tests/support/processes.py's SidecarProcess, told
READY over a real NOTIFY_SOCKET), the bare pass-through proxy, their RSS and CPU time from
/proc, and py-spy recordings of the sidecar with a summary of where its samples fall."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import linecache
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import SidecarProcess, free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> float:
    """CPU seconds every process on the machine has used (all CPUs), from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICKS


def pin(pid: int, cpus: set[int]) -> None:
    """Set the CPU affinity of every thread of a process (sched_setaffinity is per thread;
    threads created later inherit it from their creator)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Sidecar:
    """One `python -m sidecar serve` process on its own data directory, logging at WARNING."""

    def __init__(self, *, base_url: str, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self._notify_path = workdir / "notify.sock"
        self._harness = SidecarProcess(
            base_url=base_url,
            data_dir=workdir / "data",
            log_path=workdir / "sidecar.log",
            NOTIFY_SOCKET=str(self._notify_path),
            SIDECAR_SIDECAR_LOG_LEVEL="WARNING",
            GAMEBALL_API_KEY="bench-api-key",
            GAMEBALL_SECRET_KEY="bench-secret-key",
            **env,
        )
        self.url = self._harness.url
        self.db_path = workdir / "data" / "sidecar.db"

    @property
    def pid(self) -> int:
        assert self._harness.process is not None
        return self._harness.process.pid

    async def start(self, within: float = 30) -> float:
        """Start the process and return the seconds until it sent READY=1 (what systemd's
        Type=notify waits for), measured from just before the fork."""
        self._notify_path.unlink(missing_ok=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(self._notify_path))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            self._harness.start()
            async with asyncio.timeout(within):
                while True:
                    message = (await loop.sock_recv(sock, 4096)).decode()
                    if "READY=1" in message.splitlines():
                        return time.perf_counter() - started

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    async def status(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        return await self._harness.status(session)

    async def wait_drained(self, session: aiohttp.ClientSession, within: float) -> None:
        await self._harness.wait_drained(session, within=within)

    def stop(self) -> None:
        if self._harness.process is not None and self._harness.process.poll() is None:
            self._harness.stop()


class BareProxy:
    def __init__(self, upstream: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._upstream = upstream
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        script = Path(__file__).with_name("bench_proxy.py")
        command = [sys.executable, str(script), self._upstream, str(self.port)]
        self.process = subprocess.Popen(command)

    async def start(self) -> None:
        self._spawn()
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise RuntimeError("the bare proxy did not listen within 10 s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass(frozen=True)
class Profile:
    samples: int  # samples of threads doing something (waiting ones are left out)
    waiting: int  # samples py-spy counted as active that were waiting (epoll, queue.get)
    seconds: float
    rate: int
    # (share of samples, name): frames most often on top of the stack (with the line); the
    # sidecar's functions anywhere on the stack; top-of-stack time by package; threads.
    top_self: list[tuple[float, str]]
    top_sidecar: list[tuple[float, str]]
    packages: list[tuple[float, str]]
    threads: list[tuple[float, str]]
    raw_path: Path
    svg_path: Path | None


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


async def record(pid: int, seconds: float, stem: Path, rate: int = 200) -> Profile | None:
    """Sample the process for ``seconds`` into STEM.txt (collapsed stacks, for speedscope) and
    STEM.svg (a flame graph), and summarise the samples. Blocking sampling (the default): each
    sample pauses the process for a few microseconds, for consistent stacks."""
    spy = py_spy()
    if spy is None:
        return None
    common = ["record", "--pid", str(pid), "--duration", f"{seconds:.0f}", "--rate", str(rate)]
    common += ["--threads", "--full-filenames"]
    outputs = {"raw": stem.with_suffix(".txt"), "flamegraph": stem.with_suffix(".svg")}
    quiet = asyncio.subprocess.DEVNULL
    runs = [
        await asyncio.create_subprocess_exec(
            spy, *common, "--format", fmt, "--output", str(path), stdout=quiet, stderr=quiet
        )
        for fmt, path in outputs.items()
    ]
    await asyncio.gather(*(run.wait() for run in runs))
    if not outputs["raw"].exists():
        return None
    svg = outputs["flamegraph"]
    return summarise(outputs["raw"], seconds, rate, svg if svg.exists() else None)


# Frames every sample of the main thread passes through: they say nothing.
TRIVIAL = ("sidecar/__main__.py", "sidecar/cli.py", "serve (sidecar/app.py")
# A thread whose top line is one of these is waiting for work (the event loop in epoll, an
# executor or aiosqlite's worker in queue.get), even when py-spy sampled it as running.
WAITING = re.compile(r"\.(poll|select|get|wait)\(")
WAITING_IN = ("selectors.py", "concurrent/futures/thread.py", "aiosqlite/core.py", "queue.py")


def summarise(raw: Path, seconds: float, rate: int, svg: Path | None) -> Profile:
    leaf: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        thread, _, rest = stack.partition(";")
        if not rest:
            continue
        count = int(count_text)
        frames = rest.split(";")
        if _waits(frames[-1]):
            waiting += count
            continue
        total += count
        threads[thread.partition(": ")[2] or thread] += count
        top = _short(frames[-1], keep_line=True)
        leaf[top] += count
        packages[_package(top)] += count
        for frame in {_short(f) for f in frames if "sidecar/" in f and "simulator" not in f}:
            if not any(t in frame for t in TRIVIAL):
                ours[frame] += count

    def shares(counter: collections.Counter[str], n: int) -> list[tuple[float, str]]:
        return [(count / total, name) for name, count in counter.most_common(n)] if total else []

    return Profile(
        samples=total,
        waiting=waiting,
        seconds=seconds,
        rate=rate,
        top_self=shares(leaf, 12),
        top_sidecar=shares(ours, 12),
        packages=shares(packages, 8),
        threads=shares(threads, 4),
        raw_path=raw,
        svg_path=svg,
    )


def _waits(frame: str) -> bool:
    path, _, number = frame.rpartition(" (")[2].rstrip(")").rpartition(":")
    if not number.isdigit() or not path.endswith(WAITING_IN):
        return False
    return bool(WAITING.search(linecache.getline(path, int(number))))


def _package(short_frame: str) -> str:
    """'x (aiohttp/web_protocol.py:446)' -> 'aiohttp'; stdlib modules by module name."""
    where = short_frame.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    return where.split("/", 1)[0].removesuffix(".py")


def _short(frame: str, keep_line: bool = False) -> str:
    """'f (/x/site-packages/aiosqlite/core.py:63)' -> 'f (aiosqlite/core.py)', or with ':63'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    if not keep_line:
        where = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        where = where.split(marker)[-1]
    return f"{name} ({where})" if where else name

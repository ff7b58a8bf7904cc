"""py-spy recordings of the sidecar while a missed phase repeats, and the summary the report
shows of them: where the working (not waiting) samples fall, by frame, package and thread."""

from __future__ import annotations

import asyncio
import collections
import linecache
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from scripts.benchmarks.plan import ROOT


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

"""The benchmark's load generators, each in a process of its own so that it never shares an
event loop (or a GIL) with what it measures: wrk driven by a Lua script (preferred: C, one epoll
thread), or this module run with -m, an aiohttp client (the fallback when wrk is missing).

Both send the same bodies (see ``body``) over keep-alive connections, closed loop, one request
in flight per connection, and print one line ``BENCH {json}`` with the request count, seconds,
errors and latency percentiles; the parent takes the generator's CPU time from ``wait4``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scripts.benchmarks.plan import ROOT

KINDS = ("estimate-miss", "estimate-hit", "finalize")
CUSTOMERS = 200


@dataclass(frozen=True)
class Load:
    url: str
    kind: str
    tag: str
    concurrency: int
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    generator: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_share(self) -> float:
        """The generator's CPU time as a share of one core over the run."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


def body(kind: str, tag: str, n: int) -> str:
    """Request n of a run. Misses vary totalPaid so every request is a new cache key; the tag
    (a line's serviceId, or the paymentId prefix) keeps runs apart."""
    if kind == "estimate-miss":
        paid = f"{10 + n / 100:.2f}"
        return (
            f'{{"customerId":"cust-1001","totalPaid":{paid},'
            f'"paymentDetails":[{{"serviceId":"{tag}","amount":{paid}}}]}}'
        )
    if kind == "estimate-hit":
        return (
            '{"customerId":"cust-1001","totalPaid":42.00,'
            f'"paymentDetails":[{{"serviceId":"{tag}","amount":42.00}}]}}'
        )
    return (
        f'{{"customerId":"bench-{n % CUSTOMERS:03d}","paymentId":"{tag}-{n}","totalPaid":42.5,'
        '"paymentDetails":[{"serviceId":"latte","amount":30},'
        '{"serviceId":"croissant","amount":12.5}]}'
    )


# The same three bodies as body(), in Lua; string.format's %.2f rounds as Python's does.
LUA = r"""
local kind, tag, customers = "%(kind)s", "%(tag)s", %(customers)d
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(headers)s
local function body(n)
  if kind == "estimate-miss" then
    local paid = string.format("%%.2f", 10 + n / 100)
    return '{"customerId":"cust-1001","totalPaid":' .. paid ..
      ',"paymentDetails":[{"serviceId":"' .. tag .. '","amount":' .. paid .. '}]}'
  elseif kind == "estimate-hit" then
    return '{"customerId":"cust-1001","totalPaid":42.00,' ..
      '"paymentDetails":[{"serviceId":"' .. tag .. '","amount":42.00}]}'
  end
  return string.format('{"customerId":"bench-%%03d","paymentId":"%%s-%%d","totalPaid":42.5,' ..
    '"paymentDetails":[{"serviceId":"latte","amount":30},' ..
    '{"serviceId":"croissant","amount":12.5}]}', n %% customers, tag, n)
end
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, body(n))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%%d,"seconds":%%.6f,"errors":%%d,"p50_ms":%%.4f,"p99_ms":%%.4f}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def run(load: Load, generator: str, workdir: Path, cpu: int | None = None) -> Result:
    """Run one load to completion (blocking: call it from a thread) and parse its summary;
    ``cpu`` pins the generator, every thread of it, to that CPU (taskset, before exec)."""
    if generator == "wrk":
        script = workdir / f"{load.tag}.lua"
        headers = "\n".join(
            f'wrk.headers["{name}"] = "{value}"' for name, value in load.headers.items()
        )
        script.write_text(
            LUA % {"kind": load.kind, "tag": load.tag, "customers": CUSTOMERS, "headers": headers}
        )
        seconds = max(1, round(load.seconds))  # wrk takes whole seconds
        command = ["wrk", "-t1", f"-c{load.concurrency}", f"-d{seconds}s", "--timeout", "10s"]
        command += ["-s", str(script), load.url]
    else:
        command = [sys.executable, "-m", "scripts.benchmarks.loadgen", json.dumps(asdict(load))]
    if cpu is not None:
        command = ["taskset", "--cpu-list", str(cpu), *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    # wait4, not wait(): it hands back the child's own CPU time (rusage).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in out.splitlines() if line.startswith("BENCH ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{generator} failed ({process.returncode}): {out}")
    summary = json.loads(lines[-1].removeprefix("BENCH "))
    return Result(generator=generator, cpu_seconds=usage.ru_utime + usage.ru_stime, **summary)


async def _client(load: Load) -> dict[str, float | int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    counter = iter(range(1, 1 << 62))
    headers = {"Content-Type": "application/json", **load.headers}
    connector = aiohttp.TCPConnector(limit=load.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        deadline = started + load.seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                data = body(load.kind, load.tag, next(counter)).encode()
                sent = time.perf_counter()
                try:
                    async with session.post(load.url, data=data) as answer:
                        await answer.read()
                        ok = answer.status < 400
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - sent)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(load.concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": errors,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


if __name__ == "__main__":
    summary = asyncio.run(_client(Load(**json.loads(sys.argv[1]))))
    print("BENCH " + json.dumps(summary), flush=True)

"""The ways the badinput suite sends a case: a request through aiohttp, raw bytes on a socket
(below HTTP), and slow-loris clients holding sockets while a till checks out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection

from yarl import URL

from scripts.chaos_suites.badinput.judging import judge
from scripts.chaos_suites.badinput.target import JSON, Check, E, Result, Target

RAW_WITHIN = 5.0
# A till's ordinary request while slow clients hold sockets: the estimate budget is 0.8 s.
PROMPT_SECONDS = 1.0


def http(
    method: str,
    path: str,
    body: bytes | Callable[[], AsyncIterator[bytes]] | None = None,
    *,
    expect: Collection[int],
    field: str | None = None,
    headers: dict[str, str] | None = None,
    lenient: Collection[int] = (),
    why: str = "",
) -> Check:
    async def check(target: Target) -> Result:
        data = body() if callable(body) else body
        sent = JSON if headers is None and body is not None else (headers or {})
        async with target.session.request(
            method,
            URL(target.url + path, encoded=True),
            data=data,
            headers=sent,
            skip_auto_headers=["Content-Type"],
        ) as response:
            raw = await response.read()
            content_type = response.content_type
            return judge(response.status, raw, content_type, expect, field, lenient, why)

    return check


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """One HTTP answer, or whatever came before the server closed the connection (the server
    may keep reading a body it will not use for a while after answering)."""
    answer = b""
    while chunk := await reader.read(65536):
        answer += chunk
        head, found, body = answer.partition(b"\r\n\r\n")
        if found:
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                return answer
    return answer


def raw(
    data: bytes,
    *,
    expect: Collection[int] = range(400, 500),
    half_close: bool = False,
    may_close: bool = True,
) -> Check:
    """Bytes straight onto a socket: an HTTP answer in `expect`, or (if allowed) a close."""

    async def check(target: Target) -> Result:
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        answer = b""
        try:
            try:
                writer.write(data)
                await writer.drain()
                if half_close:
                    writer.write_eof()
            except ConnectionError:
                pass  # the server answered and hung up before reading it all
            try:
                answer = await asyncio.wait_for(read_answer(reader), RAW_WITHIN)
            except ConnectionError:
                pass
            except TimeoutError:
                return Result("no answer, still open", False, f"after {RAW_WITHIN:.0f}s")
        finally:
            writer.close()
        if not answer:
            return Result("closed", may_close, "" if may_close else "expected an answer")
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        content_type = next(
            (ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("content-type")),
            "",
        )
        if status < 500 and "text/plain" in content_type:
            # aiohttp's HTTP parser answers garbage itself, before any sidecar code runs.
            return Result(f"{status} text/plain", status in expect, "aiohttp parser")
        return judge(status, body, content_type.split(";")[0], expect, None, ())

    return check


def slow_loris(sockets: int, seconds: float) -> Check:
    """Clients that send their headers one byte a second while a till keeps checking out."""

    async def check(target: Target) -> Result:
        start = b"POST /v1/estimate-points HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        pairs = []
        for _ in range(sockets):
            reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
            writer.write(start)
            pairs.append((asyncio.create_task(reader.read(65536)), writer))
        latencies: list[float] = []
        statuses: list[int] = []
        deadline = time.monotonic() + seconds
        next_drip = time.monotonic() + 1
        while time.monotonic() < deadline:
            began = time.monotonic()
            basket = {"customerId": "cust-1001", "totalPaid": 12 + len(latencies)}
            async with target.session.post(target.url + E, json=basket) as response:
                await response.read()
                statuses.append(response.status)
            latencies.append(time.monotonic() - began)
            await asyncio.sleep(0.25)
            if time.monotonic() >= next_drip:
                next_drip += 1
                for reading, writer in pairs:
                    if not reading.done() and not writer.is_closing():
                        writer.write(b"a")
        closed = sum(reading.done() for reading, _ in pairs)
        for reading, writer in pairs:
            reading.cancel()
            writer.close()
        await asyncio.gather(*(reading for reading, _ in pairs), return_exceptions=True)
        worst = max(latencies)
        got = f"{len(latencies)} checkouts, worst {worst:.2f}s"
        note = f"server closed {closed}/{sockets} slow sockets"
        ok = all(s == 200 for s in statuses) and worst <= PROMPT_SECONDS
        return Result(got, ok, note if ok else f"{note}; statuses {set(statuses)}")

    return check

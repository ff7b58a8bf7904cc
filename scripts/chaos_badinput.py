"""Chaos suite "badinput": hostile bodies, headers and HTTP at a real sidecar process beside the
Gameball simulator. Every case must get a 4xx in the one error shape (or, for garbage below
HTTP, a 4xx or a closed connection), nothing may show up as a 5xx in the sidecar's own log, the
process must stay up and healthy after each case, and its memory must stay bounded."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
from chaos_common import spec_violations
from yarl import URL

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.processes import SidecarProcess

MB = 1 << 20
HEALTH_WITHIN = 5.0
RAW_WITHIN = 5.0
# A till's ordinary request while slow clients hold sockets: the estimate budget is 0.8 s.
PROMPT_SECONDS = 1.0
MAX_GROWTH_MB = 64.0
ERROR_KEYS = {"code", "message", "retryable", "upstreamCode", "details"}

E, H, F, R = "/v1/estimate-points", "/v1/hold-and-redeem", "/v1/finalize-payment", "/v1/refund"
JSON = {"Content-Type": "application/json"}
SALE = (
    b'{"customerId": "cust-1001", "paymentId": "bad-sale-1", "totalPaid": 10, '
    b'"paymentDetails": [{"serviceId": "latte", "amount": 10, "tags": ["hot"]}]}'
)


@dataclass(frozen=True)
class Result:
    got: str
    ok: bool
    note: str = ""


@dataclass
class Target:
    """The sidecar under attack, and what its log said since the last case."""

    sidecar: SidecarProcess
    session: aiohttp.ClientSession
    log_path: Path
    log_offset: int = 0
    parser_errors: int = 0

    @property
    def url(self) -> str:
        return self.sidecar.url

    @property
    def port(self) -> int:
        return self.sidecar.port

    def alive(self) -> bool:
        return self.sidecar.process is not None and self.sidecar.process.poll() is None

    def new_log_problems(self) -> list[str]:
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            chunk = log.read()
        chunk = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits its turn
        self.log_offset += len(chunk)
        problems = []
        for line in chunk.decode(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            logger = str(entry.get("logger", ""))
            if logger == "sidecar.access" and int(entry.get("status", 0)) >= 500:
                problems.append(f"{entry['status']} in sidecar log")
            elif entry.get("level") in ("error", "critical"):
                if logger.startswith("sidecar"):
                    problems.append(f"logged error: {str(entry.get('message'))[:60]}")
                else:
                    self.parser_errors += 1
        return problems


Check = Callable[[Target], Awaitable[Result]]


@dataclass(frozen=True)
class Case:
    name: str
    check: Check


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


def shape_problem(raw: bytes) -> str | None:
    """Why a body is not the one error shape, or None."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "error body is not JSON"
    error = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
    if not isinstance(error, dict) or not set(error) <= ERROR_KEYS:
        return "not {error: {code, message, retryable, ...}}"
    if not (isinstance(error.get("code"), str) and error["code"]):
        return "no code"
    if not (isinstance(error.get("message"), str) and error["message"]):
        return "no message"
    if not isinstance(error.get("retryable"), bool):
        return "no retryable"
    details = error.get("details", [])
    if not isinstance(details, list) or not all(
        isinstance(d, dict) and set(d) == {"field", "message"} for d in details
    ):
        return "bad details"
    return None


def judge(
    status: int,
    raw: bytes,
    content_type: str,
    expect: Collection[int],
    field: str | None,
    lenient: Collection[int],
    why: str = "",
) -> Result:
    got = str(status)
    if status >= 400:
        problem = (
            shape_problem(raw)
            if content_type == "application/json"
            else f"content type {content_type}"
        )
        if problem:
            return Result(got, False, problem)
        if status < 500:
            got = f"{status} {json.loads(raw)['error']['code']}"
    if status in lenient:
        return Result(got, True, f"lenient: {why or 'accepted'}")
    if status not in expect:
        return Result(got, False, f"expected {'/'.join(map(str, expect))}")
    if field is not None:
        fields = [d["field"] for d in json.loads(raw)["error"].get("details", [])]
        if field not in fields:
            return Result(got, False, f"expected field {field}, got {fields}")
    return Result(got, True)


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


def chunked(size: int) -> Callable[[], AsyncIterator[bytes]]:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"totalPaid": 1, "customerId": "'
        for _ in range(size // (64 * 1024)):
            yield b"a" * (64 * 1024)
        yield b'"}'

    return body


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def items(count: int, item: bytes) -> bytes:
    return b"[" + b",".join([item] * count) + b"]"


def sale(**fields: Any) -> bytes:
    base: dict[str, Any] = {"customerId": "cust-1001", "paymentId": "bad-1", "totalPaid": 10}
    return json.dumps({**base, **fields}).encode()


def sale_with(extra: bytes) -> bytes:
    """A sale with more raw JSON members spliced in (for bodies json.dumps cannot write)."""
    return sale()[:-1] + b", " + extra + b"}"


def hold(**fields: Any) -> bytes:
    return json.dumps({"customerId": "cust-1001", "checkoutId": "bad-co", **fields}).encode()


def paid(rest: bytes) -> bytes:
    return b'{"totalPaid": 1, ' + rest + b"}"


def customer(raw_id: bytes) -> bytes:
    return paid(b'"customerId": "' + raw_id + b'"')


REFUND = b'{"paymentId": "p", "refundId": "r", '
# Host: a loopback address, or the sidecar refuses the request before reading it (rebinding).
RAW_POST = (
    b"POST /v1/estimate-points HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
)
RAW_GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n\r\n"
HEADERS_10K = b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
LATIN1 = {"Content-Type": "application/json; charset=latin-1"}
TEXT = {"Content-Type": "text/plain"}
ANY_TYPE = "valid JSON answered 200 whatever the Content-Type"

NON_JSON = ("NaN", "Infinity", "-Infinity")
HUGE = ("1e309", "-1e309", "1e308", "1000000000.01", "1" + "0" * 400)

# (case, path, body, expected status, the field the error must name, or None)
Body = tuple[str, str, bytes, int, str | None]
BODIES: list[Body] = [
    # Malformed and truncated JSON
    ("empty body", E, b"", 400, None),
    ("whitespace body", E, b" \r\n\t ", 400, None),
    ("lone brace", E, b"{", 400, None),
    *((f"sale cut at {p}%", F, SALE[: len(SALE) * p // 100], 400, None) for p in (5, 50, 99)),
    ("trailing garbage", E, b'{"totalPaid": 1} x', 400, None),
    ("two documents", E, b'{"totalPaid": 1}{"totalPaid": 2}', 400, None),
    ("single quotes", E, b"{'totalPaid': 1}", 400, None),
    ("trailing comma", E, b'{"totalPaid": 1,}', 400, None),
    ("comment", E, b'{"totalPaid": 1 /* c */}', 400, None),
    ("unquoted key", E, b"{totalPaid: 1}", 400, None),
    *((f"JSON {b.decode()} as body", E, b, 422, "$") for b in (b"[]", b'"x"', b"null", b"7")),
    # Wrong types, missing and unknown fields
    ("totalPaid as string", E, b'{"totalPaid": "12"}', 422, "$.totalPaid"),
    ("totalPaid as bool", E, b'{"totalPaid": true}', 422, "$.totalPaid"),
    ("points as string", H, hold(points="5"), 422, "$.points"),
    ("points as float", H, hold(points=1.5), 422, "$.points"),
    ("points as bool", H, hold(points=True), 422, "$.points"),
    ("customerId as number", H, b'{"customerId": 1001}', 422, "$.customerId"),
    ("paymentDetails as object", E, paid(b'"paymentDetails": {}'), 422, "$.paymentDetails"),
    ("payment line as string", F, sale(paymentDetails=["x"]), 422, "$.paymentDetails[0]"),
    ("redemption as array", F, sale(redemption=[]), 422, "$.redemption"),
    ("redeemNow as string", H, hold(points=1, redeemNow="yes"), 422, "$.redeemNow"),
    ("extra as list", F, sale(extra=[1]), 422, "$.extra"),
    ("quantity as string", R, REFUND + b'"lineItems": [{"quantity": "2"}]}', 422, None),
    ("estimate without totalPaid", E, b"{}", 422, "$.totalPaid"),
    ("hold without customerId", H, b'{"checkoutId": "c", "points": 1}', 422, "$.customerId"),
    ("sale without paymentId", F, b'{"customerId": "c", "totalPaid": 1}', 422, "$.paymentId"),
    ("refund of nothing", R, b"{}", 422, "$.paymentId"),
    ("misspelt field", E, b'{"totalPaid": 1, "totalPayed": 1}', 422, "$.totalPayed"),
    ("merchant from the POS", F, sale(merchant={"uniqueId": "m"}), 422, "$.merchant"),
    ("unknown nested field", F, sale(paymentDetails=[{"colour": "red"}]), 422, None),
    ("emoji field name", H, hold(points=1, **{"\U0001f600": 1}), 422, "$.\U0001f600"),
    # Huge bodies (the 10 MB ones are added in the full run)
    ("body 70 KB", E, b'{"x": "' + b"a" * 70_000 + b'"}', 413, None),
    ("body 1 MB", E, paid(b'"x": "' + b"a" * MB + b'"'), 413, None),
    # Deep nesting
    ("10k nested arrays", E, nested(10_000), 422, "$"),
    (
        "10k nested arrays in extra",
        F,
        sale_with(b'"extra": {"a": ' + nested(10_000) + b"}"),
        422,
        None,
    ),
    (
        "10k nested objects in extra",
        F,
        sale_with(b'"extra": ' + nested(10_000, b'{"a":', b"}")),
        422,
        None,
    ),
    ("30k nested arrays (60 KB)", E, nested(30_000), 422, "$"),
    ("100k nested arrays (200 KB)", E, nested(100_000), 413, None),
    # Odd unicode
    ("lone surrogate \\ud800", E, customer(b"\\ud800"), 400, None),
    ("lone surrogate \\udc00", E, customer(b"\\udc00"), 400, None),
    ("reversed surrogate pair", E, customer(b"\\udc00\\ud800"), 400, None),
    # Bidi controls are format characters (Cf): invisible, refused like control characters.
    (
        "RTL override in customerId",
        H,
        hold(customerId="\u202e1001-tsuc", points=1),
        422,
        "$.customerId",
    ),
    ("emoji customerId", H, hold(customerId="\U0001f600\U0001f4b3", points=1), 404, None),
    ("escaped NUL in customerId", H, hold(customerId="c\u00001", points=1), 422, "$.customerId"),
    ("raw NUL in a string", E, customer(b"a\x00b"), 400, None),
    ("raw NUL between tokens", E, b'{"totalPaid": 1\x00}', 400, None),
    ("200 combining marks", H, hold(customerId="c" + "\u0301" * 200, points=1), 422, None),
    ("customerId ending in \\n", F, sale(customerId="cust-1001\n", paymentId="nl"), 422, None),
    ("UTF-8 BOM first", E, b'\xef\xbb\xbf{"totalPaid": 1}', 400, None),
    ("invalid UTF-8 0xff", E, customer(b"\xff"), 400, None),
    ("overlong UTF-8 0xc0 0xaf", E, customer(b"\xc0\xaf"), 400, None),
    ("UTF-8-encoded surrogate", E, customer(b"\xed\xa0\x80"), 400, None),
    ("truncated UTF-8 sequence", E, customer(b"\xe2\x82"), 400, None),
    ("UTF-16 body", E, '{"totalPaid": 1}'.encode("utf-16"), 400, None),
    # Numbers
    ("negative totalPaid", E, b'{"totalPaid": -1}', 422, "$.totalPaid"),
    *((f"totalPaid {n}", E, b'{"totalPaid": %s}' % n.encode(), 400, None) for n in NON_JSON),
    *(
        (f"totalPaid {n[:12]}", E, b'{"totalPaid": %s}' % n.encode(), 422, "$.totalPaid")
        for n in HUGE
    ),
    ('totalPaid "1e309"', E, b'{"totalPaid": "1e309"}', 422, "$.totalPaid"),
    *((f"points {p}", H, hold(points=p), 422, "$.points") for p in (0, -1, 2**63, 1e20)),
    ("amount 0", H, hold(amount=0), 422, "$.amount"),
    ("amount -0.0", H, hold(amount=-0.0), 422, "$.amount"),
    ("refund quantity 0", R, REFUND + b'"lineItems": [{"quantity": 0}]}', 422, None),
    ("returnWindow 3651", F, sale(cashbackConfigurations={"returnWindow": 3651}), 422, None),
    # 10,000-item arrays
    ("10k payment lines", E, paid(b'"paymentDetails": ' + items(10_000, b"{}")), 422, None),
    (
        "10k payment lines (90 KB)",
        E,
        paid(b'"paymentDetails": ' + items(10_000, b'{"a": 1}')),
        413,
        None,
    ),
    (
        "10k tags",
        E,
        paid(b'"paymentDetails": [{"tags": ' + items(10_000, b'"a"') + b"}]"),
        422,
        None,
    ),
    (
        "10k coupon codes",
        F,
        sale_with(b'"redemption": {"couponCodes": ' + items(10_000, b'"c"') + b"}"),
        422,
        None,
    ),
    ("10k refund lines", R, REFUND + b'"lineItems": ' + items(10_000, b"{}") + b"}", 422, None),
    ("5k keys in extra", F, sale(extra={f"k{i}": 0 for i in range(5000)}), 422, "$.extra"),
]
QUICK_SKIPS = {
    "sale cut at 99%",
    "30k nested arrays (60 KB)",
    "100k nested arrays (200 KB)",
    "10k payment lines (90 KB)",
}


def cases(quick: bool) -> list[Case]:
    c = [
        Case(name, http("POST", path, body, expect={status}, field=fld))
        for name, path, body, status, fld in BODIES
        if not (quick and name in QUICK_SKIPS)
    ]

    def add(name: str, check: Check) -> None:
        c.append(Case(name, check))

    if not quick:
        add("body 10 MB", http("POST", E, paid(b'"x": "' + b"a" * 10 * MB + b'"'), expect={413}))
        add("body 10 MB chunked", http("POST", E, chunked(10 * MB), expect={413}))
    add("body 1 MB chunked", http("POST", E, chunked(MB), expect={413}))
    ten_mb = RAW_POST + b"Content-Length: 10485760\r\n\r\n" + b"{" * 1024
    add("Content-Length 10 MB, 1 KB sent", raw(ten_mb, expect={413}, may_close=False))
    short = RAW_POST + b'Content-Length: 100\r\n\r\n{"totalPaid": 1}'
    add("Content-Length 100, 16 sent, EOF", raw(short, half_close=True))
    add("Content-Length 5, 16 sent", raw(RAW_POST + b'Content-Length: 5\r\n\r\n{"totalPaid": 1}'))
    tiny = hold(amount=5e-324, checkoutId="bad-tiny")
    zero = "a 0-point hold was made"
    add("amount 5e-324", http("POST", H, tiny, expect={422}, lenient={200}, why=zero))
    latin1 = '{"totalPaid": 1, "customerId": "Jos\u00e9"}'.encode("latin-1")
    add("latin-1 body", http("POST", E, latin1, expect={400}, headers=LATIN1))
    # Odd paths, methods, query strings, headers and content types
    for name, path, status in (
        ("RTL mark in balance path", "/v1/customers/%E2%80%8F1001/balance", {422}),
        ("NUL in path", "/v1/customers/cust%001001/balance", {422}),
        ("invalid UTF-8 in path", "/v1/customers/%ff%fe/balance", {404, 422}),
        ("GET on finalize", F, {405}),
        ("unknown path", "/v1/nothing", {404}),
        ("dot-dot path", "/v1/../../etc/passwd", {404}),
        ("8 KB path", "/v1/" + "a" * 8000, {404}),
        *((f"outbox?{q[:20]}", f"/v1/outbox?{q}", {422}) for q in OUTBOX_QUERIES),
        *((f"outbox/{i[:12]}", f"/v1/outbox/{i}", {422}) for i in OUTBOX_IDS),
    ):
        add(name, http("GET", path, expect=status))
    add("PUT on estimate", http("PUT", E, b"{}", expect={405}))
    add("DELETE on status", http("DELETE", "/v1/status", expect={405}))
    add("discard without reason", http("POST", "/v1/outbox/1/discard", b"{}", expect={404, 422}))
    origin = {**JSON, "Origin": "http://evil.example"}
    add("foreign Origin", http("POST", E, b"{}", expect={403}, headers=origin))
    rebinding = b"GET /v1/outbox HTTP/1.1\r\nHost: rebind.attacker.example\r\n"
    add("DNS-rebinding Host", raw(rebinding + b"Connection: close\r\n\r\n", expect={403}))
    dots = b"GET /v1/holds/%2E%2E HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    add("dot-segment hold reference", raw(dots, expect={422}))
    long_id = {"X-Request-Id": "r" * 5000}
    add("5 KB X-Request-Id", http("GET", "/v1/status", expect={200}, headers=long_id))
    add("Accept: XML", http("POST", E, b"{", expect={400}, headers={**JSON, "Accept": "text/xml"}))
    for name, body, content_type in CONTENT_TYPES:
        add(name, http("POST", E, body, expect={400, 415}, headers={"Content-Type": content_type}))
    # Valid JSON under another content type: accepted today (nothing documents either way).
    for name, headers in (("JSON as text/plain", TEXT), ("JSON, no content type", {})):
        valid = b'{"totalPaid": 1}'
        check = http("POST", E, valid, expect={415}, headers=headers, lenient={200}, why=ANY_TYPE)
        add(name, check)
    # Garbage HTTP on a raw socket
    for name, data in GARBAGE:
        add(name, raw(data))
    bad_id = RAW_GET + b"X-Request-Id: \xff\xfe\r\nConnection: close\r\n\r\n"
    add("invalid UTF-8 X-Request-Id", raw(bad_id, expect={200}))
    add("bare CRLFs, EOF", raw(b"\r\n" * 1000, half_close=True))
    cut = RAW_POST + CHUNKED + b'10\r\n{"totalPaid"'
    add("chunked body cut short, EOF", raw(cut, half_close=True))
    # Slow clients
    sockets, seconds = (20, 5) if quick else (200, 20)
    add(f"slow-loris {sockets} sockets x {seconds} s", slow_loris(sockets, seconds))
    return c


OUTBOX_QUERIES = ("limit=abc", "limit=0", "limit=" + "9" * 30, "afterId=-1", "state=bogus")
OUTBOX_IDS = ("abc", "0", "-1", "1e3", "9" * 30)
CONTENT_TYPES = (
    ("text/plain, not JSON", b"totalPaid is 1", "text/plain"),
    ("form-urlencoded", b"totalPaid=1", "application/x-www-form-urlencoded"),
    ("multipart", b"--x\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"),
    ("XML", b"<totalPaid>1</totalPaid>", "application/xml"),
)
GARBAGE = (
    ("binary garbage", b"\x00\x01\x02\xff garbage\r\n\r\n"),
    ("TLS ClientHello", bytes.fromhex("16030100a5010000a10303") + bytes(160)),
    ("request line without target", b"GET\r\n\r\n"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n"),
    ("lowercase method", b"get /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("made-up method", b"BREW /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("10k headers", RAW_GET + HEADERS_10K + b"\r\n"),
    ("100 KB header", RAW_GET + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n"),
    ("100 KB URL", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("NUL in a header", RAW_GET + b"X-A: a\x00b\r\n\r\n"),
    ("negative Content-Length", RAW_POST + b"Content-Length: -5\r\n\r\n{}"),
    ("Content-Length + chunked", RAW_POST + b"Content-Length: 5\r\n" + CHUNKED + b"0\r\n\r\n"),
    ("bad chunk size", RAW_POST + CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n"),
)


async def healthy(target: Target) -> bool:
    deadline = time.monotonic() + HEALTH_WITHIN
    while time.monotonic() < deadline and target.alive():
        try:
            async with target.session.get(target.url + "/healthz") as response:
                if response.status == 200:
                    return True
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    return False


async def warm_up(target: Target) -> None:
    """Touch each part once so lazily built things are not counted as growth."""
    for method, path, body in (
        ("POST", E, b'{"customerId": "cust-1001", "totalPaid": 5}'),
        ("POST", H, b"{}"),
        ("POST", F, b"{}"),
        ("POST", R, b"{}"),
        ("GET", "/v1/status", None),
        ("GET", "/status", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/v1/outbox", None),
    ):
        async with target.session.request(method, target.url + path, data=body, headers=JSON) as r:
            await r.read()


@dataclass
class Run:
    rows: list[tuple[str, Result]] = field(default_factory=list)
    baseline: int = 0
    peak: int = 0
    final: int = 0
    parser_errors: int = 0
    spec_violations: int = 0


async def attack(quick: bool, work: Path) -> Run:
    server = SimulatorServer(Simulator(rate_limits_enabled=False))
    await server.start()
    sidecar = SidecarProcess(
        base_url=server.base_url, data_dir=work / "data", log_path=work / "sidecar.log"
    )
    run = Run()
    sampler: RssSampler | None = None
    try:
        sidecar.start()
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await sidecar.wait_ready(session)
            assert sidecar.process is not None
            target = Target(sidecar, session, work / "sidecar.log")
            sampler = RssSampler(sidecar.process.pid)
            sampler.start()
            await warm_up(target)
            run.baseline = await sampler.settled()
            target.new_log_problems()
            sampler.peak = run.baseline
            for case in cases(quick):
                try:
                    result = await case.check(target)
                except Exception as exc:
                    result = Result(f"{type(exc).__name__}", False, str(exc)[:80])
                await asyncio.sleep(0.05)  # let a client-gone failure reach the log
                if not await healthy(target):
                    result = Result(result.got, False, "sidecar not healthy afterwards")
                problems = target.new_log_problems()
                if problems:
                    result = Result(result.got, False, "; ".join(sorted(set(problems))))
                run.rows.append((case.name, result))
            run.peak = sampler.peak
            run.final = await sampler.settled()
            run.parser_errors = target.parser_errors
            run.spec_violations = spec_violations("badinput", server)
    finally:
        if sampler is not None:
            sampler.stop()
        if sidecar.process is not None and sidecar.process.poll() is None:
            sidecar.stop()
        await server.stop()
    return run


def main(quick: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="chaos-badinput-") as tmp:
        run = asyncio.run(attack(quick, Path(tmp)))
    growth = (run.peak - run.baseline) / MB
    bounded = growth <= MAX_GROWTH_MB
    memory = Result(f"+{growth:.1f} MB", bounded, f"limit {MAX_GROWTH_MB:.0f} MB")
    rows = [*run.rows, ("memory bounded (peak over idle)", memory)]
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'status':<26}  result")
    for name, result in rows:
        verdict = "OK" if result.ok else "FAILED"
        note = f"  ({result.note})" if result.note else ""
        print(f"{name:<{width}}  {result.got:<26}  {verdict}{note}")
    ok = sum(result.ok for _, result in rows)
    print(
        f"badinput: cases={len(rows)} ok={ok} failed={len(rows) - ok} "
        f"peak_rss_mb={run.peak / MB:.1f} growth_mb={growth:.1f} "
        f"spec_violations={run.spec_violations}"
    )
    print(
        f"badinput: baseline_rss_mb={run.baseline / MB:.1f} final_rss_mb={run.final / MB:.1f} "
        f"aiohttp_parser_error_lines={run.parser_errors}"
    )
    return ok == len(rows) and run.spec_violations == 0
